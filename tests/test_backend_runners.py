"""The python-based inference backends' runners (``onnxruntime``, ``openvino``) without a server: batches merged
and split, failures kept to their group, the native backends' parameters honoured."""

from __future__ import annotations

import numpy as np
import pytest

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
    properties = openvino_properties({"HINT_BF16": "yes", "INFERENCE_NUM_THREADS": "2", "NUM_STREAMS": "2"})
    assert (properties["INFERENCE_PRECISION_HINT"], properties["INFERENCE_NUM_THREADS"], properties["NUM_STREAMS"]) == (
        "bf16", "2", "2"
    )
    with pytest.raises(ValueError, match="HINT_BF16"):
        openvino_properties({"HINT_BF16": "NO"})
