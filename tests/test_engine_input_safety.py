"""Malformed model inputs never poison a model (issue 15, item 4).

OpenVINO's CPU plugin keeps a compiled model's dynamic-shape state in the compiled model: one run it cannot do
(a 2 px wide line to the recogniser, a 31×33 detector input, a zero-sized batch) used to make later runs of the
last good shape fail, or silently not run, until another shape ran. These tests replay the exact sequences.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from triton_ocr.engine.openvino_engine import OpenVINOModel
from triton_ocr.errors import InvalidModelInputError
from triton_ocr.models.registry import resolve_model
from triton_ocr.serving.in_triton.model_runner import RUNNERS

REC = {"A": (1, 3, 48, 320), "bad": (1, 3, 48, 2), "B": (1, 3, 48, 640)}
DET = {"A": (1, 3, 320, 320), "bad": (1, 3, 31, 33), "B": (1, 3, 640, 640)}
SEQUENCE = ["A", "A", "bad", "A", "A", "B"]


def tensor(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def in_new_thread(function, *args):  # noqa: ANN001, ANN202 - a test helper
    """``function(*args)`` in a thread of its own (a fresh infer request), its exception re-raised here."""
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["value"] = function(*args)
        except Exception as exc:  # noqa: BLE001 - handed back to the caller
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def replay(model, shapes: dict, fresh_threads: bool) -> None:  # noqa: ANN001 - OpenVINOModel or a runner call
    """The sequence A, A, bad, A, A, B: the bad input is refused as invalid, every A equals the first, B runs."""
    call = (lambda x: in_new_thread(model, x)) if fresh_threads else model
    expected = call(tensor(shapes["A"]))
    for step in SEQUENCE:
        if step == "bad":
            with pytest.raises(InvalidModelInputError, match="cannot run"):
                call(tensor(shapes["bad"]))
        elif step == "A":
            np.testing.assert_array_equal(call(tensor(shapes["A"])), expected)
        else:
            assert call(tensor(shapes["B"])).shape[0] == 1


@pytest.mark.parametrize(
    ("model", "precision", "threads", "fresh_threads"),
    [
        ("PP-OCRv4_mobile_rec", "fp32", 1, False),
        ("PP-OCRv4_mobile_rec", "fp32", 2, False),
        ("PP-OCRv4_mobile_rec", "bf16", 1, True),
        ("PP-OCRv4_mobile_det", "fp32", 1, True),
        ("PP-OCRv4_mobile_det", "bf16", 2, False),
    ],
)
def test_shape_sequence_with_a_bad_input_keeps_the_model_serving(model, precision, threads, fresh_threads):
    engine = OpenVINOModel(resolve_model(model).onnx_path, threads=threads, precision=precision, cache=False)
    replay(engine, REC if model.endswith("rec") else DET, fresh_threads)
    assert engine.compiled.recompilations == 0  # refused before OpenVINO saw it


FALLBACK = """
import numpy as np
from triton_ocr.engine.openvino_engine import OpenVINOModel
from triton_ocr.models.registry import resolve_model

engine = OpenVINOModel(resolve_model("PP-OCRv4_mobile_rec").onnx_path, threads=1, cache=False)
engine.compiled.check = lambda shapes: None  # as if the check had missed it
line = np.random.default_rng(0).random((1, 3, 48, 320), dtype=np.float32)
expected = engine(line)
try:
    engine(np.zeros(BAD, np.float32))
except RuntimeError as exc:
    print("failed:", exc)
same = [bool((engine(line) == expected).all()) for _ in range(3)]
print("recompilations:", engine.compiled.recompilations, "same:", same)
"""


@pytest.mark.parametrize("bad", [REC["bad"], (0, 3, 48, 320)])
def test_a_run_that_fails_inside_openvino_gets_a_fresh_compiled_model(bad):
    """Should a shape the check lets through fail inside the plugin, the failure stays with its request: the
    compiled model is replaced, and the next runs of the last good shape give the right answer. (In a child
    process: after such a failure the CPU plugin's process-wide state is not trusted — a model compiled afresh
    in the same process then segfaulted here — which is why the check keeps these shapes away from it.)"""
    import subprocess
    import sys

    script = FALLBACK.replace("BAD", repr(bad))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert "failed: OpenVINO did not run the model" in done.stdout
    assert "recompilations: 1 same: [True, True, True]" in done.stdout


@pytest.fixture(scope="module")
def det_runners() -> dict:
    """Both python-based backends' runners over the detector, as text_det's config loads them."""
    path = resolve_model("PP-OCRv4_mobile_det").onnx_path
    config = {
        "name": "text_det",
        "max_batch_size": 4,
        "input": [{"name": "x", "data_type": "TYPE_FP32", "dims": ["3", "-1", "-1"]}],
        "output": [{"name": "out", "data_type": "TYPE_FP32", "dims": ["1", "-1", "-1"]}],
    }
    from triton_ocr.engine.openvino_engine import core

    config["output"][0]["name"] = core().read_model(str(path)).output(0).get_any_name()
    parameters = {"INFERENCE_NUM_THREADS": "1", "intra_op_thread_count": "1"}
    return {name: runner(config, parameters, path.parent.parent, path.parent.name) for name, runner in RUNNERS.items()}


@pytest.mark.parametrize("engine", ["openvino", "onnxruntime"])
def test_runner_refuses_malformed_inputs_alone_and_keeps_serving(det_runners, engine):
    runner = det_runners[engine]
    output = runner.output_names[0]
    good = {"x": tensor(DET["A"])}
    malformed = [
        ({"x": tensor(DET["bad"])}, "cannot run"),
        ({"x": np.zeros((0, 3, 320, 320), np.float32)}, "at least 1"),
        ({"x": tensor(DET["A"]).astype(np.float64)}, "must be float32"),
        ({"x": tensor((1, 4, 320, 320))}, r"must have shape \['N', 3, -1, -1\]"),
        ({}, "'x' is missing"),
    ]
    expected = runner.run([good])[0][output]
    for inputs, message in malformed:
        results = runner.run([good, inputs, good])
        assert isinstance(results[1], InvalidModelInputError), message
        with pytest.raises(InvalidModelInputError, match=message):
            raise results[1]
        for index in (0, 2):
            np.testing.assert_array_equal(results[index][output], expected)


def test_invalid_model_input_is_invalid_argument_in_triton():
    from test_python_models import FAKE_PB, FakeTritonError

    from triton_ocr.serving.in_triton.adapter import error_response

    response = error_response(FAKE_PB, InvalidModelInputError("text_rec: input shape [1, 3, 48, 2] cannot run"))
    assert response.error.code == FakeTritonError.INVALID_ARG


@pytest.mark.parametrize(
    ("tensor", "message"),
    [(np.array([b"\xff\xfemin"], dtype=np.object_), "det_limit_type is not valid UTF-8"),
     (np.array([], dtype=np.object_), "det_limit_type is empty")],
)
def test_undecodable_string_parameter_is_invalid_argument(tensor, message):
    """Issue 15 item 5: invalid UTF-8 in ``det_limit_type`` was INTERNAL; it is the caller's error."""
    from test_python_models import FAKE_PB, FakeTritonError

    from triton_ocr import contract
    from triton_ocr.config import OCRConfig
    from triton_ocr.errors import ConfigError
    from triton_ocr.serving.in_triton.adapter import error_response
    from triton_ocr.serving.in_triton.bodies import request_config

    with pytest.raises(ConfigError, match=message) as caught:
        request_config(OCRConfig(), {"det_limit_type": tensor}, contract.TUNABLE_INPUTS)
    assert error_response(FAKE_PB, caught.value).error.code == FakeTritonError.INVALID_ARG
