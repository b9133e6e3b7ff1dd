"""The Triton pieces that run without a server: the committed repository is the cpu render, the python models'
steps equal the in-process pipeline, the ONNX shim batches, errors stay per request, the client maps its inputs."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from triton_ocr.config import OCRConfig
from triton_ocr.errors import ConfigError, InvalidImageError
from triton_ocr.models.registry import resolve_model
from triton_ocr.pipeline import OCRPipeline
from triton_ocr.serving import contract
from triton_ocr.serving.adapter import (
    PythonModel,
    TritonCallError,
    error_response,
    model_parameters,
    pipeline_config,
)
from triton_ocr.serving.install import TritonUnavailableError, python_tag, wanted_members
from triton_ocr.serving.model_runner import RUNNERS, openvino_properties
from triton_ocr.serving.pbtxt import Token, dumps
from triton_ocr.serving.profile import get_profile
from triton_ocr.serving.repository import OnnxIO, render_repository, served_models
from triton_ocr.serving.server import remove_stale_shm_regions
from triton_ocr.serving.steps import DetPreprocess, OCRPostprocess, request_config
from triton_ocr.stages import best_path
from triton_ocr.steps.det_padding import pad_det_input, unpad_prob_map
from triton_ocr_client.errors import (
    BadInputError,
    InferenceError,
    InferenceTimeoutError,
    OverloadedError,
    ServerUnavailableError,
    classify,
)
from triton_ocr_client.protocol import Endpoint, check_overrides, tunable_arrays
from triton_fixtures import text_image

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def onnx_io() -> dict[str, OnnxIO]:
    """The tensor names of every inference model, the angle classifier included."""
    _, files = served_models(OCRConfig(use_textline_orientation=True))
    return {name: OnnxIO.of(model.onnx_path) for name, model in files.items()}


@pytest.fixture(scope="module")
def pipeline() -> OCRPipeline:
    return OCRPipeline(OCRConfig())


def test_committed_repository_is_the_cpu_render(onnx_io):
    rendered = render_repository(OCRConfig(), get_profile("cpu"), onnx_io)
    repository = ROOT / "model_repository"
    committed = {
        str(path.relative_to(repository)): path.read_text(encoding="utf-8")
        for path in repository.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".onnx", ".txt")
    }
    assert committed == rendered, "regenerate with: triton-ocr serve --build-repo model_repository --profile cpu"


def test_gpu_flavour_differs_only_in_serving_settings(onnx_io):
    cpu = render_repository(OCRConfig(), get_profile("cpu"), onnx_io)
    gpu = render_repository(OCRConfig(), get_profile("gpu"), onnx_io)
    assert cpu.keys() == gpu.keys()
    assert gpu[f"{contract.OCR}/config.pbtxt"].split("\n", 2)[2] == cpu[f"{contract.OCR}/config.pbtxt"].split("\n", 2)[2]
    rec = gpu[f"{contract.TEXT_REC}/config.pbtxt"]
    assert "kind: KIND_GPU" in rec and 'name: "tensorrt"' in rec and "max_batch_size: 128" in rec
    assert '\\"batch_size\\":32' in gpu[f"{contract.OCR_POSTPROCESS}/config.pbtxt"]
    assert 'backend: "onnxruntime"' in rec and 'backend: "openvino"' in cpu[f"{contract.TEXT_REC}/config.pbtxt"]


def test_engine_and_precision_switch_the_backend_by_configuration(onnx_io):
    def text_rec(**runtime: str) -> str:
        config = OCRConfig().with_overrides(runtime=runtime)
        return render_repository(config, get_profile("cpu"), onnx_io)[f"{contract.TEXT_REC}/config.pbtxt"]

    bf16, fp32, ort = text_rec(), text_rec(precision="fp32"), text_rec(engine="onnxruntime")
    assert 'backend: "openvino"' in fp32 and 'default_model_filename: "model.onnx"' in fp32
    assert '"INFERENCE_NUM_THREADS"' in fp32 and "HINT_BF16" not in fp32
    assert 'key: "HINT_BF16"\n    value { string_value: "YES" }' in bf16
    assert 'backend: "onnxruntime"' in ort and '"intra_op_thread_count"' in ort and "default_model_filename" not in ort


def test_orientation_model_is_served_only_when_the_pipeline_uses_it(onnx_io):
    off = render_repository(OCRConfig(), get_profile("cpu"), onnx_io)
    on = render_repository(OCRConfig(use_textline_orientation=True), get_profile("cpu"), onnx_io)
    assert not any(path.startswith(contract.TEXTLINE_ORIENTATION) for path in off)
    assert "cls_model" not in off[f"{contract.OCR_POSTPROCESS}/config.pbtxt"]
    cls = on[f"{contract.TEXTLINE_ORIENTATION}/config.pbtxt"]
    assert "dims: [ 3, 48, 192 ]" in cls and "dims: [ 2 ]" in cls and "max_batch_size: 6" in cls
    assert 'key: "cls_model"\n    value { string_value: "textline_orientation" }' in on[
        f"{contract.OCR_POSTPROCESS}/config.pbtxt"
    ]


def test_pipeline_batches_larger_than_the_profile_allows_are_refused(onnx_io):
    with pytest.raises(ConfigError, match="text_rec.batch_size 8 exceeds"):
        render_repository(OCRConfig(text_rec={"batch_size": 8}), get_profile("cpu"), onnx_io)


def test_pbtxt_writer_quotes_strings_and_leaves_enums_bare():
    text = dumps({"name": 'a "b" \\c', "kind": Token("KIND_CPU"), "dims": [3, -1], "flag": True, "nested": {"x": 1}})
    assert text == 'name: "a \\"b\\" \\\\c"\nkind: KIND_CPU\ndims: [ 3, -1 ]\nflag: true\nnested { x: 1 }'


def as_model_call(model, outputs=lambda output: [output]):  # noqa: ANN001, ANN201
    """An in-process model as the steps' async ModelCall; ``outputs`` maps its output to the served model's."""

    async def call(batch: np.ndarray) -> list[np.ndarray]:
        return list(outputs(model(batch)))

    return call


def run_python_steps(local: OCRPipeline, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``det_preprocess`` → the local detector → ``ocr_postprocess`` (models called in-process)."""
    classify = as_model_call(local.cls_model) if local.cls_model is not None else None
    recognise = as_model_call(local.rec_model, best_path)  # text_rec serves the best path (models.best_path)
    post = OCRPostprocess(local.config, local.charset, recognise, 2, classify=classify)

    async def run() -> dict[str, np.ndarray]:
        pre = await DetPreprocess(local.config, 32)(inputs)
        handoff = {key: pre[key] for key in (contract.DECODED_IMAGE, contract.DET_INPUT_SIZE)}
        return await post({contract.PROB_MAP: local.det_model(pre[contract.DET_TENSOR]), **handoff})

    return asyncio.run(run())


def test_python_steps_equal_the_in_process_pipeline(pipeline):
    data = text_image(3)
    outputs = run_python_steps(pipeline, {contract.IMAGE_BYTES: np.array([data], dtype=np.object_)})
    expected = next(pipeline.predict(data))
    assert [t.decode() for t in outputs[contract.TEXTS.name]] == expected["rec_text"]
    np.testing.assert_array_equal(outputs[contract.POLYS.name], np.array(expected["dt_polys"]))


def test_python_steps_turn_upside_down_lines_like_the_in_process_pipeline():
    oriented = OCRPipeline(OCRConfig(use_textline_orientation=True))
    upright = cv2.imdecode(np.frombuffer(text_image(5), np.uint8), cv2.IMREAD_COLOR)
    upside_down = np.ascontiguousarray(upright[::-1, ::-1])
    outputs = run_python_steps(oriented, {contract.IMAGE_ARRAY: upside_down})
    expected = next(oriented.predict(upside_down))
    assert len(expected["rec_text"]) >= 4
    assert [t.decode() for t in outputs[contract.TEXTS.name]] == expected["rec_text"]
    without = OCRPostprocess(oriented.config, oriented.charset, as_model_call(oriented.rec_model), 2)
    with pytest.raises(ConfigError, match="no textline_orientation model"):
        asyncio.run(without.orient([upside_down], oriented.config.textline_orientation))


def test_charset_comes_from_the_recogniser_folder(pipeline):
    folder = resolve_model(OCRConfig().text_rec.model).onnx_path.parent
    assert OCRPostprocess.charset_of(folder) == pipeline.charset


def test_detector_padding_round_trips():
    tensor = np.random.default_rng(0).random((1, 3, 96, 160), dtype=np.float32)
    padded = pad_det_input(tensor, 128)
    assert padded.shape == (1, 3, 128, 256) and not padded[..., 96:, :].any() and not padded[..., 160:].any()
    np.testing.assert_array_equal(unpad_prob_map(padded, (96, 160)), tensor)
    assert pad_det_input(tensor, 32) is tensor


def test_request_config_reads_optional_inputs():
    base = OCRConfig()
    inputs = {
        "det_thresh": np.array([0.3], np.float32),
        "det_limit_type": np.array([b"min"], dtype=np.object_),
        "det_limit_side_len": np.array([736], np.int32),
    }
    config = request_config(base, inputs, contract.TUNABLE_INPUTS)
    assert (config.text_det.thresh, config.text_det.limit_type, config.text_det.limit_side_len) == (0.3, "min", 736)
    assert request_config(base, {}, contract.TUNABLE_INPUTS) is base
    with pytest.raises(ConfigError):
        request_config(base, {"det_box_thresh": np.array([3.0], np.float32)}, contract.TUNABLE_INPUTS)


@pytest.fixture(scope="module")
def rec_runners() -> dict:
    """Both python-based backends' runners over the recogniser, as a config with max_batch_size 8 loads them."""
    path = resolve_model(OCRConfig().text_rec.model).onnx_path
    config = {
        "max_batch_size": 8,
        "input": [{"name": "x"}],
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
    properties = openvino_properties({"HINT_BF16": "yes", "INFERENCE_NUM_THREADS": "2", "NUM_STREAMS": "2"})
    assert (properties["INFERENCE_PRECISION_HINT"], properties["INFERENCE_NUM_THREADS"], properties["NUM_STREAMS"]) == (
        "bf16", "2", "2"
    )
    with pytest.raises(ValueError, match="HINT_BF16"):
        openvino_properties({"HINT_BF16": "NO"})


class FakeTritonError(Exception):
    INVALID_ARG, INTERNAL, UNAVAILABLE = 3, 13, 14

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


FAKE_PB = SimpleNamespace(
    TritonError=FakeTritonError,
    InferenceResponse=lambda output_tensors=None, error=None: SimpleNamespace(outputs=output_tensors, error=error),
    Tensor=lambda name, array: (name, array),
    Logger=SimpleNamespace(log_error=lambda message: None),
    get_input_tensor_by_name=lambda request, name: request.get(name),
)


@pytest.mark.parametrize(
    ("exc", "code"),
    [(InvalidImageError("corrupt"), 3), (ConfigError("bad"), 3), (TritonCallError("full", 14), 14), (KeyError("x"), 13)],
)
def test_each_failure_becomes_its_request_error(exc, code):
    assert error_response(FAKE_PB, exc).error.code == code


def test_a_bad_request_does_not_fail_the_others():
    class Model(PythonModel):
        async def step(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            if inputs["x"][0] < 0:
                raise InvalidImageError("negative")
            return {"y": inputs["x"] * 2}

    model = Model()
    model.pb, model.input_names = FAKE_PB, ["x"]
    requests = [{"x": SimpleNamespace(as_numpy=lambda v=v: np.array([v]))} for v in (1, -1)]
    good, bad = asyncio.run(model.execute(requests))
    assert good.error is None and good.outputs[0][1].tolist() == [2]
    assert bad.outputs is None and bad.error.code == FakeTritonError.INVALID_ARG


def test_endpoints_parse():
    assert Endpoint.parse("grpc://h:9") == Endpoint("grpc", "h:9")
    assert Endpoint.parse("http://h") == Endpoint("http", "h:8000")
    assert Endpoint.parse("h:1", protocol="http") == Endpoint("http", "h:1")
    with pytest.raises(ConfigError):
        Endpoint.parse("ftp://h:1")


def test_only_overridden_or_non_default_parameters_are_sent():
    assert tunable_arrays(OCRConfig(), {}) == {}
    config = OCRConfig().with_overrides(text_det={"box_thresh": 0.6, "thresh": 0.2})
    arrays = tunable_arrays(config, {"text_det": {"box_thresh": 0.6}})
    assert sorted(arrays) == ["det_box_thresh", "det_thresh"] and arrays["det_thresh"].dtype == np.float32
    with pytest.raises(ConfigError, match="cannot change per request"):
        check_overrides({"text_det": {"max_candidates": 5}})


class FakeServerError(Exception):
    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self._message, self._status = message, status

    def message(self) -> str:
        return self._message

    def status(self) -> str:
        return self._status


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (FakeServerError("cannot decode", "StatusCode.INVALID_ARGUMENT"), BadInputError),
        (FakeServerError("bad", "400"), BadInputError),
        (FakeServerError("Exceeds maximum queue size", "StatusCode.UNAVAILABLE"), OverloadedError),
        (FakeServerError("failed to connect to all addresses", "StatusCode.UNAVAILABLE"), ServerUnavailableError),
        (ConnectionRefusedError(111, "Connection refused"), ServerUnavailableError),
        (FakeServerError("Deadline Exceeded", "StatusCode.DEADLINE_EXCEEDED"), InferenceTimeoutError),
        (FakeServerError("Stub process 'x_0_0' is not healthy", "StatusCode.INTERNAL"), InferenceError),
    ],
)
def test_client_errors_are_typed(exc, kind):
    assert type(classify(exc)) is kind
    assert issubclass(BadInputError, InvalidImageError)


def test_python_model_reads_its_parameters():
    config = json.dumps({"parameters": {"ocr_config": {"string_value": OCRConfig().model_dump_json()}}})
    assert pipeline_config(model_parameters(json.loads(config))) == OCRConfig()


def test_only_the_needed_wheel_members_are_extracted():
    root = "pytriton/tritonserver/"
    names = [
        f"{root}bin/tritonserver",
        f"{root}backends/python/libtriton_python.so",
        f"{root}python_backend_stubs/{python_tag()}/triton_python_backend_stub",
        f"{root}python_backend_stubs/3.8/triton_python_backend_stub",
        "nvidia_pytriton.libs/libtritonserver-1.so",
        "nvidia_pytriton.libs/libpython3-2.13.so.1.0",
        "pytriton/client/client.py",
    ]
    assert sorted(wanted_members(names).values()) == [
        "backends/python/libtriton_python.so",
        "backends/python/triton_python_backend_stub",
        "bin/tritonserver",
        "lib/libtritonserver-1.so",
    ]
    with pytest.raises(TritonUnavailableError):
        wanted_members([f"{root}bin/tritonserver"])


def test_stale_shared_memory_of_dead_launchers_is_removed(tmp_path):
    child = subprocess.Popen(["true"])
    child.wait()
    dead_pid = child.pid
    stale = tmp_path / f"triton_ocr_{dead_pid}_ab_region"
    alive = tmp_path / f"triton_ocr_{os.getpid()}_cd_region"
    other = tmp_path / "someone_else"
    for path in (stale, alive, other):
        path.write_bytes(b"")
    assert remove_stale_shm_regions(tmp_path) == [stale]
    assert alive.exists() and other.exists()
