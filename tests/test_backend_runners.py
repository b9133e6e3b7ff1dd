"""The python-based inference backends' runners (``onnxruntime``, ``openvino``) without a server: batches merged
and split, failures kept to their group, the native backends' parameters honoured."""

from __future__ import annotations

import numpy as np
import pytest

from triton_ocr.engine.openvino_engine import cpu_has_bf16
from triton_ocr.models.registry import resolve_model
from triton_ocr.serving.in_triton.model_runner import RUNNERS, openvino_properties
from triton_ocr.serving.repository.plan import OnnxIO


@pytest.fixture(scope="module")
def rec_runners() -> dict:
    """Both python-based backends' runners over the recogniser, as a config with max_batch_size 8 loads them."""
    path = resolve_model("PP-OCRv4_mobile_rec").onnx_path
    config = {
        "max_batch_size": 8,
        "input": [{"name": "x", "data_type": "TYPE_FP32", "dims": ["3", "48", "-1"]}],
        "output": [{"name": OnnxIO.of(path).output}],
        "instance_group": [{"kind": "KIND_CPU"}],
    }
    parameters = {"intra_op_thread_count": "1", "INFERENCE_NUM_THREADS": "1"}
    return {name: runner(config, parameters, path.parent.parent, path.parent.name) for name, runner in RUNNERS.items()}


@pytest.mark.parametrize("engine", ["onnxruntime", "openvino"])
def test_runner_merges_equal_shapes_and_splits_outputs(rec_runners, engine):
    runner = rec_runners[engine]
    output = runner.output_names[0]
    rng = np.random.default_rng(1)
    batch = [{"x": rng.random((n, 3, 48, w), dtype=np.float32)} for n, w in ((2, 320), (1, 320), (1, 352))]
    results = runner.run(batch)
    assert [len(result[output]) for result in results] == [2, 1, 1]
    for inputs, result in zip(batch, results):
        alone = runner.run([inputs])[0]
        np.testing.assert_allclose(result[output], alone[output], atol=1e-5)


def test_openvino_runner_equals_onnx_runtime_runner_in_fp32(rec_runners):
    rng = np.random.default_rng(2)
    batch = [{"x": rng.random((3, 3, 48, 400), dtype=np.float32)}]
    ort, ov = rec_runners["onnxruntime"].run(batch)[0], rec_runners["openvino"].run(batch)[0]
    name = rec_runners["onnxruntime"].output_names[0]
    np.testing.assert_allclose(ov[name], ort[name], atol=1e-4)
    assert (ov[name].argmax(-1) == ort[name].argmax(-1)).all()


@pytest.mark.parametrize("engine", ["onnxruntime", "openvino"])
def test_runner_failure_stays_with_its_group(rec_runners, engine):
    good = {"x": np.zeros((1, 3, 48, 320), np.float32)}
    bad = {"x": np.zeros((1, 3, 48, 0), np.float32)}  # 0 px wide: no engine can run it
    results = rec_runners[engine].run([good, bad, good])
    assert isinstance(results[1], Exception)
    assert [len(results[i][rec_runners[engine].output_names[0]]) for i in (0, 2)] == [1, 1]


def test_openvino_parameters_follow_the_native_backend():
    assert openvino_properties({})["INFERENCE_PRECISION_HINT"] == "f32"  # fp32 pinned unless HINT_BF16 says YES
    properties = openvino_properties(
        {"HINT_BF16": "yes", "INFERENCE_NUM_THREADS": "2", "NUM_STREAMS": "2", "ENABLE_CPU_PINNING": "no"}
    )
    bf16 = "bf16" if cpu_has_bf16() else "f32"  # a CPU without bfloat16 units runs fp32 (with a warning)
    assert (properties["INFERENCE_PRECISION_HINT"], properties["INFERENCE_NUM_THREADS"], properties["NUM_STREAMS"]) == (
        bf16, "2", "2"
    )
    assert properties["ENABLE_CPU_PINNING"] == "NO"
    assert "ENABLE_CPU_PINNING" not in openvino_properties({})  # OpenVINO's own default where the config says none
    with pytest.raises(ValueError, match="HINT_BF16"):
        openvino_properties({"HINT_BF16": "NO"})


def test_a_batch_item_beyond_the_served_bound_never_reaches_the_engine():
    """A client calling ``text_rec`` directly gets no more than the pipeline sends: ``max_item_elements`` (rendered
    from ``text_rec.max_width``) refuses a wider line, naming the setting; the bound itself still runs."""
    from triton_ocr.config import OCRConfig
    from triton_ocr.errors import InvalidModelInputError
    from triton_ocr.serving.repository.catalog import rec_item_limit
    from triton_ocr.serving.repository.plan import plan_serving
    from triton_ocr.serving.repository.profiles import get_profile

    plan = plan_serving(OCRConfig(), get_profile("cpu"), ())
    limit, setting = rec_item_limit(plan)
    width = plan.config.text_rec.max_width
    assert (limit, setting) == (3 * 48 * width, "text_rec.max_width")
    path = resolve_model("PP-OCRv4_mobile_rec").onnx_path
    config = {
        "max_batch_size": 8,
        "input": [{"name": "x", "data_type": "TYPE_FP32", "dims": ["3", "48", "-1"]}],
        "output": [{"name": OnnxIO.of(path).output}],
    }
    parameters = {"INFERENCE_NUM_THREADS": "1", "max_item_elements": str(limit), "item_limit_setting": setting}
    runner = RUNNERS["openvino"](config, parameters, path.parent.parent, path.parent.name)
    wide, bound = np.zeros((1, 3, 48, width + 1), np.float32), np.zeros((2, 3, 48, width), np.float32)
    results = runner.run([{"x": wide}, {"x": bound}])
    assert isinstance(results[0], InvalidModelInputError)
    assert f"limit is {limit} (set by text_rec.max_width)" in str(results[0])
    assert len(results[1][runner.output_names[0]]) == 2


def test_the_detector_bound_covers_what_the_pipeline_sends():
    """``text_det``'s bound admits the largest input the resize can give (padded to the profile's multiple) and
    refuses the 4096² input an attacker sent."""
    from triton_ocr.config import OCRConfig
    from triton_ocr.serving.repository.catalog import det_item_limit
    from triton_ocr.serving.repository.plan import plan_serving
    from triton_ocr.serving.repository.profiles import get_profile
    from triton_ocr.steps.det_padding import padded_size
    from triton_ocr.steps.det_resize import det_input_size

    for profile in ("cpu", "gpu"):
        plan = plan_serving(OCRConfig(), get_profile(profile), ())
        limit, setting = det_item_limit(plan)
        assert setting == "text_det.max_input_pixels"
        det, multiple = plan.config.text_det, plan.profile.det_size_multiple
        for height, width in ((32, 200_000), (5000, 5000), (9000, 4000), (64, 64), (1, 50_000)):
            size = padded_size(*det_input_size(height, width, det), multiple)
            assert 3 * size[0] * size[1] <= limit, (profile, height, width, size)
        assert 3 * 4096 * 4096 > limit


def detector_runner(max_run_elements: int, max_batch_size: int = 8):
    """The OpenVINO runner over PP-OCRv4's detector in fp32, as a config with ``max_run_elements`` loads it."""
    path = resolve_model("PP-OCRv4_mobile_det").onnx_path
    io = OnnxIO.of(path)
    config = {
        "max_batch_size": max_batch_size,
        "input": [{"name": io.input, "data_type": "TYPE_FP32", "dims": ["3", "-1", "-1"]}],
        "output": [{"name": io.output}],
    }
    parameters = {"INFERENCE_NUM_THREADS": "2", "max_run_elements": str(max_run_elements)}
    return RUNNERS["openvino"](config, parameters, path.parent.parent, path.parent.name)


def test_merged_batches_run_in_parts_within_max_run_elements():
    """Five equal-shape requests with room for two per run: runs of 2, 2 and 1, each request's output its own."""
    runner = detector_runner(max_run_elements=2 * 3 * 64 * 64)
    assert runner.warmed.wait(60)
    name, output = runner.input_names[0], runner.output_names[0]
    feeds: list[tuple[int, ...]] = []
    infer = runner.infer
    runner.infer = lambda feed: feeds.append(feed[name].shape) or infer(feed)  # type: ignore[method-assign]
    rng = np.random.default_rng(3)
    batch = [{name: rng.random((1, 3, 64, 64), dtype=np.float32)} for _ in range(5)]
    results = runner.run(batch)
    assert feeds == [(2, 3, 64, 64), (2, 3, 64, 64), (1, 3, 64, 64)]
    for inputs, result in zip(batch, results):
        np.testing.assert_allclose(result[output], infer(inputs)[0], atol=1e-5)


def test_the_largest_run_is_one_square_item_on_the_detectors_stride():
    from triton_ocr.config import OCRConfig
    from triton_ocr.serving.repository.catalog import det_item_limit
    from triton_ocr.serving.repository.plan import plan_serving
    from triton_ocr.serving.repository.profiles import get_profile

    limit = det_item_limit(plan_serving(OCRConfig(), get_profile("cpu"), ()))[0]
    runner = detector_runner(max_run_elements=limit)
    assert runner.largest_run() == {runner.input_names[0]: (1, 3, 2048, 2048)}
    assert 3 * 2048 * 2048 <= limit < 3 * 2080 * 2080
    assert runner.warmed.wait(60)


def test_a_request_beyond_max_run_elements_runs_in_parts_of_whole_lines():
    """The served recogniser's bound: two lines of the widest size per run. A chunk of six such lines runs in three
    parts of two and answers as the whole chunk does; the warm-up ran two of them."""
    path = resolve_model("PP-OCRv4_mobile_rec").onnx_path
    config = {
        "max_batch_size": 6,
        "input": [{"name": "x", "data_type": "TYPE_FP32", "dims": ["3", "48", "-1"]}],
        "output": [{"name": OnnxIO.of(path).output}],
    }
    item = 3 * 48 * 320
    parameters = {"INFERENCE_NUM_THREADS": "1", "max_item_elements": str(item), "max_run_elements": str(2 * item)}
    runner = RUNNERS["openvino"](config, parameters, path.parent.parent, path.parent.name)
    assert runner.largest_run() == {"x": (2, 3, 48, 320)}
    assert runner.warmed.wait(60)
    feeds: list[tuple[int, ...]] = []
    infer = runner.infer
    runner.infer = lambda feed: feeds.append(feed["x"].shape) or infer(feed)  # type: ignore[method-assign]
    chunk = {"x": np.random.default_rng(4).random((6, 3, 48, 320), dtype=np.float32)}
    parts = runner.run([chunk])[0][runner.output_names[0]]
    assert feeds == [(2, 3, 48, 320)] * 3 and runner.compiled.releases == 0
    np.testing.assert_allclose(parts, infer(chunk)[0], atol=1e-5)


def test_the_served_models_keep_fewer_kernels_than_the_library():
    """The served stubs' kernel cache is small (their memory stays flat); the in-process pipeline's is large (a
    small one cost it ~10 % CPU)."""
    from triton_ocr.engine.openvino_engine import RUNTIME_CACHE_ENTRIES, SERVED_RUNTIME_CACHE_ENTRIES, compile_config

    assert openvino_properties({})["CPU_RUNTIME_CACHE_CAPACITY"] == str(SERVED_RUNTIME_CACHE_ENTRIES) == "32"
    assert openvino_properties({"CPU_RUNTIME_CACHE_CAPACITY": "256"})["CPU_RUNTIME_CACHE_CAPACITY"] == "256"
    assert compile_config(2, "fp32", None)["CPU_RUNTIME_CACHE_CAPACITY"] == str(RUNTIME_CACHE_ENTRIES) == "1024"


def test_the_openvino_runner_takes_its_copies_from_the_config():
    path = resolve_model("PP-OCRv6_tiny_det").onnx_path
    config = {
        "max_batch_size": 4,
        "input": [{"name": OnnxIO.of(path).input, "data_type": "TYPE_FP32", "dims": ["3", "-1", "-1"]}],
        "output": [{"name": OnnxIO.of(path).output}],
        "instance_group": [{"kind": "KIND_CPU"}],
    }
    for parameters, capacity in (({"static_shapes": "3"}, 3), ({}, 0)):
        runner = RUNNERS["openvino"](config, {"INFERENCE_NUM_THREADS": "1", **parameters}, path.parent.parent,
                                     path.parent.name)
        assert runner.compiled.static.capacity == capacity
