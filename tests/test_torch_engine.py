"""The PyTorch engine (the ``torch`` extra) on the CPU: the converted models give ONNX Runtime's numbers, the
python-based ``torch`` backend's runner merges equal shapes, low precision falls back to fp32, and devices that are
not there fail with a clear error naming the setting. GPU behaviour (CUDA graphs, fp16 speed) needs a GPU machine:
``scripts/gpu_service_bench.py`` (docs/gpu.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from triton_ocr.config import OCRConfig
from triton_ocr.errors import ConfigError, DeviceUnavailableError
from triton_ocr.models import best_path
from triton_ocr.models.cache import model_home
from triton_ocr.models.registry import resolve_pipeline_models

torch = pytest.importorskip("torch", reason="the torch engine is an optional extra (pip install -e '.[torch]')")
try:
    from triton_ocr.engine.onnx_to_torch import import_onnx2torch

    import_onnx2torch()  # onnx2torch without torchvision: the engine's own import path
except ConfigError as exc:
    pytest.skip(str(exc), allow_module_level=True)

from triton_ocr.engine.onnx_runtime import OnnxRuntimeModel  # noqa: E402
from triton_ocr.engine.torch_engine import TorchModel, batch_bucket, torch_device  # noqa: E402
from triton_ocr.pipeline import create_pipeline  # noqa: E402
from triton_ocr.serving.in_triton.torch_runner import TorchRunner, instance_device  # noqa: E402
from triton_fixtures import text_image  # noqa: E402

V4 = OCRConfig(model_set="PP-OCRv4_mobile")


@pytest.fixture(scope="module")
def models():  # noqa: ANN201 - the resolved PP-OCRv4 mobile files
    return resolve_pipeline_models(V4)


@pytest.fixture(scope="module")
def best_path_rec(models) -> Path:  # noqa: ANN001
    return best_path.best_path_model(models.rec.onnx_path, model_home() / "best_path")


def test_fp32_equals_onnxruntime_on_the_detector_and_the_best_path_recogniser(models, best_path_rec):
    rng = np.random.default_rng(0)
    det_input = rng.standard_normal((2, 3, 96, 160)).astype(np.float32)
    det = TorchModel(models.det.onnx_path, "cpu", "fp32", threads=1)
    np.testing.assert_allclose(det(det_input), OnnxRuntimeModel(models.det.onnx_path, 1)(det_input), atol=1e-4)
    rec_input = rng.uniform(-1, 1, (3, 3, 48, 320)).astype(np.float32)
    rec = TorchModel(best_path_rec, "cpu", "fp32", threads=1)
    classes, confidences = rec.run(rec_input)
    session = OnnxRuntimeModel(best_path_rec, 1).session
    expected = session.run([best_path.CLASSES, best_path.CONFIDENCES], {rec.input_name: rec_input})
    assert rec.output_names == [best_path.CLASSES, best_path.CONFIDENCES] and classes.dtype == np.int64
    np.testing.assert_array_equal(classes, expected[0])
    np.testing.assert_allclose(confidences, expected[1], atol=1e-4)
    assert "character" in rec.metadata() or models.rec.charset_path is not None


def test_the_pixel_input_detector_casts_its_pixels_to_the_model_precision(models):
    """uint8 pixels in (models/pixel_input.py): fp32 gives ONNX Runtime's map; in bf16 the graph's cast follows the
    module's precision (a float32 cast would meet bf16 weights and fail)."""
    path = models.pixel_detector().onnx_path
    pixels = np.random.default_rng(2).integers(0, 256, (1, 64, 96, 3), np.uint8)
    expected = OnnxRuntimeModel(path, 1)(pixels)
    np.testing.assert_allclose(TorchModel(path, "cpu", "fp32", threads=1)(pixels), expected, atol=1e-4)
    low = TorchModel(path, "cpu", "bf16", threads=1)
    assert np.abs(low(pixels) - expected).max() < 0.05 and not low._fell_back


def test_in_process_pipeline_on_the_torch_engine_reads_like_onnxruntime():
    text_png = text_image(3)
    torch_pipeline = create_pipeline(V4.with_overrides(runtime={"engine": "torch", "precision": "fp32"}))
    reference = create_pipeline(V4.with_overrides(runtime={"engine": "onnxruntime"}))
    got, expected = next(torch_pipeline.predict(text_png)), next(reference.predict(text_png))
    assert len(expected["rec_text"]) >= 3 and got["rec_text"] == expected["rec_text"]
    np.testing.assert_allclose(np.array(got["dt_polys"]), np.array(expected["dt_polys"]), atol=1)


def test_low_precision_runs_and_falls_back_to_fp32_on_non_finite_outputs(models, caplog):
    x = np.random.default_rng(1).standard_normal((1, 3, 64, 96)).astype(np.float32)
    model = TorchModel(models.det.onnx_path, "cpu", "bf16", threads=1)
    with torch.inference_mode():
        fp32 = model.fp32_module(torch.from_numpy(x)).numpy()
    assert np.abs(model(x) - fp32).max() < 0.05
    model.module = lambda tensor: torch.full((1, 1, 64, 96), float("inf"), dtype=tensor.dtype)
    assert np.isfinite(model(x)).all() and "running such calls in fp32" in caplog.text


def test_devices_that_are_not_there_are_clear_errors(monkeypatch):
    with pytest.raises(ConfigError, match="use cpu, gpu or gpu:N"):
        torch_device("tpu:0")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceUnavailableError, match=r"^device 'gpu:0': no CUDA GPU is visible to PyTorch"):
            create_pipeline(device="gpu:0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(DeviceUnavailableError, match=r"--device 'gpu:1': this machine has 1 CUDA GPU \(gpu:0\)"):
        torch_device("gpu:1", setting="--device")
    assert torch_device("gpu", setting="--device") == torch.device("cuda", 0)


def test_a_gpu_device_needs_the_torch_engine_and_a_server_places_its_own_models():
    with pytest.raises(ConfigError, match="needs the torch engine"):
        create_pipeline(V4.with_overrides(runtime={"engine": "openvino", "device": "gpu:0"}))
    with pytest.raises(ConfigError, match="a Triton server places its models"):
        create_pipeline(device="gpu:0", server="grpc://127.0.0.1:1")
    with pytest.raises(ConfigError, match="fp16 needs the torch engine"):
        create_pipeline(V4.with_overrides(runtime={"engine": "onnxruntime", "precision": "fp16"}))


def test_torch_backend_runner_merges_equal_shapes_and_maps_outputs(tmp_path, best_path_rec):
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "model.onnx").symlink_to(best_path_rec)
    config = {
        "name": "text_rec", "max_batch_size": 8,
        "input": [{"name": "x", "data_type": "TYPE_FP32", "dims": ["3", "48", "-1"]}],
        "output": [{"name": best_path.CONFIDENCES, "data_type": "TYPE_FP32", "dims": ["-1"]},
                   {"name": best_path.CLASSES, "data_type": "TYPE_INT64", "dims": ["-1"]}],
    }
    runner = TorchRunner(config, {"precision": "fp32", "instance_device": "cpu"}, tmp_path, "1")
    calls = []
    run = runner.model.run
    runner.model.run = lambda batch: calls.append(batch.shape) or run(batch)
    rng = np.random.default_rng(2)
    batch = [{"x": rng.uniform(-1, 1, (n, 3, 48, w)).astype(np.float32)} for n, w in ((2, 320), (1, 480), (1, 320))]
    results = runner.run(batch)
    assert sorted(calls) == [(1, 3, 48, 480), (3, 3, 48, 320)]
    alone = runner.model.run(batch[2]["x"])
    np.testing.assert_array_equal(results[2][best_path.CLASSES], alone[0])
    assert results[0][best_path.CONFIDENCES].shape == (2, 40) and results[1][best_path.CLASSES].shape == (1, 60)


def test_instances_and_graph_buckets():
    assert instance_device({"model_instance_kind": "GPU", "model_instance_device_id": "1"}) == "gpu:1"
    assert instance_device({"model_instance_kind": "CPU", "model_instance_device_id": "0"}) == "cpu"
    assert [batch_bucket(n) for n in (1, 2, 3, 5, 8, 9, 100)] == [1, 2, 4, 8, 8, 16, 128]


def test_graph_path_pads_the_batch_to_its_bucket_and_cuts_it_back(models):
    model = TorchModel(models.det.onnx_path, "cpu", "fp32", threads=1)
    shapes = []

    def graphs(x):  # noqa: ANN001, ANN202 - stands in for the CUDA-graph cache (GPU only)
        shapes.append(tuple(x.shape))
        return [model.module(x)]

    model.graphs = graphs
    x = np.random.default_rng(3).standard_normal((3, 3, 64, 64)).astype(np.float32)
    padded = model(x)
    assert shapes == [(4, 3, 64, 64)] and padded.shape == (3, 1, 64, 64)
    model.graphs = None
    np.testing.assert_allclose(padded, model(x), atol=1e-5)


def test_onnx2torch_imports_beside_a_torchvision_that_cannot_load(tmp_path):
    import subprocess
    import sys

    broken = tmp_path / "torchvision"
    broken.mkdir()
    (broken / "__init__.py").write_text('raise RuntimeError("operator torchvision::nms does not exist")\n')
    code = ("from triton_ocr.engine.onnx_to_torch import import_onnx2torch; import sys; "
            "print(import_onnx2torch().__name__, 'torchvision' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "PYTHONPATH": str(tmp_path)})
    assert done.stdout.split() == ["onnx2torch", "False"], done.stderr[-2000:]
