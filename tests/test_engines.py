"""The inference-engine seam: ONNX Runtime and OpenVINO switch by configuration and agree in fp32."""

from __future__ import annotations

import numpy as np
import pytest

from triton_ocr.config import OCRConfig
from triton_ocr.inputs import IMAGE_SUFFIXES
from triton_ocr.pipeline import OCRPipeline
from triton_ocr.steps.image_loading import load_image


@pytest.fixture(scope="module")
def openvino_fp32() -> OCRPipeline:
    return OCRPipeline(OCRConfig().with_overrides(runtime={"engine": "openvino", "precision": "fp32"}))


@pytest.fixture(scope="module")
def onnxruntime() -> OCRPipeline:
    return OCRPipeline(OCRConfig().with_overrides(runtime={"engine": "onnxruntime"}))


def test_engine_is_chosen_by_configuration(pipeline, onnxruntime, openvino_fp32):
    from triton_ocr.engine.onnx_runtime import OnnxRuntimeModel
    from triton_ocr.engine.openvino_engine import OpenVINOModel

    assert isinstance(onnxruntime.rec_model, OnnxRuntimeModel) and isinstance(openvino_fp32.rec_model, OpenVINOModel)
    assert (OCRConfig().runtime.engine, OCRConfig().runtime.precision) == ("openvino", "bf16")  # the default
    assert isinstance(pipeline.rec_model, OpenVINOModel)
    assert openvino_fp32.charset == onnxruntime.charset  # the charset comes from the same ONNX metadata


def test_raw_outputs_agree_in_fp32(onnxruntime, openvino_fp32):
    rng = np.random.default_rng(0)
    det_in = rng.integers(0, 256, (1, 320, 480, 3), np.uint8)  # the detector's pixels
    rec_in = rng.normal(0, 1, (4, 3, 48, 320)).astype(np.float32)
    np.testing.assert_allclose(openvino_fp32.det_model(det_in), onnxruntime.det_model(det_in), atol=1e-4)
    np.testing.assert_allclose(openvino_fp32.rec_model(rec_in), onnxruntime.rec_model(rec_in), atol=1e-4)


def test_same_texts_on_real_images(onnxruntime, openvino_fp32, shared_data):
    folders = ["photos_docs/photos_en", "photos_docs/multilingual", "sroie_receipts/img", "cn_game_ui/images"]
    paths = []
    for folder in folders:
        paths += sorted(p for p in (shared_data / folder).glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)[:4]
    assert len(paths) >= 12
    lines = 0
    for path in paths:
        image = load_image(path)
        ort, ov = onnxruntime.ocr(image), openvino_fp32.ocr(image)
        assert ov.texts == ort.texts, path.name
        np.testing.assert_allclose(ov.polys, ort.polys, atol=1.0, err_msg=path.name)
        lines += len(ort)
    assert lines > 50


def test_bf16_reads_clean_text_like_fp32(openvino_fp32):
    from imagegen import render_lines

    page = render_lines(["Invoice 2024-0117", "总计金额 128.50 元"], size=(600, 180))
    bf16 = OCRPipeline(OCRConfig().with_overrides(runtime={"engine": "openvino", "precision": "bf16"}))
    expected = ["Invoice2024-0117", "总计金额128.50元"]
    assert [t.replace(" ", "") for t in bf16.ocr(page).texts] == expected
    assert [t.replace(" ", "") for t in openvino_fp32.ocr(page).texts] == expected


def test_precision_switches_by_configuration(pipeline, openvino_fp32):
    from triton_ocr.engine import openvino_engine

    rec_in = np.random.default_rng(3).normal(0, 1, (2, 3, 48, 320)).astype(np.float32)
    difference = np.abs(pipeline.rec_model(rec_in) - openvino_fp32.rec_model(rec_in)).max()
    if openvino_engine.cpu_has_bf16():
        assert difference > 1e-3  # the default really runs bf16 here ...
    else:
        assert difference < 1e-4  # ... or falls back to fp32 on CPUs without bf16 units


def test_bf16_falls_back_to_fp32_without_bf16_units(monkeypatch, caplog):
    from triton_ocr.engine import openvino_engine

    monkeypatch.setattr(openvino_engine, "cpu_has_bf16", lambda: False)
    assert openvino_engine.compile_config(2, "bf16", None)["INFERENCE_PRECISION_HINT"] == "f32"
    assert "no bfloat16 units" in caplog.text
    with pytest.raises(ValueError, match="precision"):
        openvino_engine.compile_config(2, "fp16", None)


def test_each_precision_caches_its_compiled_models_apart(tmp_path):
    """OpenVINO's cache key leaves the precision hint out: a recogniser compiled in fp32 and cached first was
    imported for a bf16 request and ran to all-NaN outputs. Each precision caches in a folder of its own."""
    from triton_ocr.engine.openvino_engine import compile_config, core, cpu_has_bf16
    from triton_ocr.models.registry import resolve_model

    path = resolve_model("PP-OCRv4_mobile_rec").onnx_path
    line = np.random.default_rng(1).normal(0, 1, (1, 3, 48, 466)).astype(np.float32)
    outputs = {}
    for precision in ("fp32", "bf16"):  # fp32 first: the order that poisoned the shared cache
        compiled = core().compile_model(core().read_model(str(path)), "CPU", compile_config(2, precision, tmp_path))
        outputs[precision] = compiled(line)[0]
        assert outputs[precision].shape == (1, 58, 6625) and not np.isnan(outputs[precision]).any(), precision
    assert sorted(folder.name for folder in tmp_path.iterdir()) == (["bf16", "fp32"] if cpu_has_bf16() else ["fp32"])
    if cpu_has_bf16():
        assert not np.array_equal(outputs["fp32"], outputs["bf16"])  # the bf16 request ran in bf16
