"""The in-process OCR pipeline: the stages with local ONNX models. No server needed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from triton_ocr.config import OCRConfig, load_config
from triton_ocr.engine import InferenceModel, load_model
from triton_ocr.errors import ConfigError
from triton_ocr.inputs import iter_inputs
from triton_ocr.models.charset import load_charset
from triton_ocr.models.registry import resolve_model
from triton_ocr.result import OCRResult
from triton_ocr.stages import (
    OCRLines,
    boxes_from_prob_map,
    confident_lines,
    decode_batches,
    det_input,
    line_crops,
    plan_rec_batches,
)
from triton_ocr.steps.image_loading import load_image


class OCRPipeline:
    """Detection + recognition with models loaded in this process.

    ``predict(x)`` yields one :class:`OCRResult` per image; ``ocr(image)`` runs one decoded BGR image.
    """

    def __init__(self, config: OCRConfig) -> None:
        self.config = config
        det_files = resolve_model(config.text_det.model)
        rec_files = resolve_model(config.text_rec.model, config.text_rec.char_dict_path)
        self.det_model: InferenceModel = load_model(det_files.onnx_path, config.runtime)
        self.rec_model: InferenceModel = load_model(rec_files.onnx_path, config.runtime)
        self.charset = load_charset(self.rec_model.metadata(), rec_files.charset_path)

    def ocr(self, image: np.ndarray, config: OCRConfig | None = None) -> OCRLines:
        """BGR uint8 (H, W, 3) → recognised lines in reading order."""
        cfg = config or self.config
        prob_map = self.det_model(det_input(image, cfg.text_det))
        boxes = boxes_from_prob_map(prob_map, image.shape[:2], cfg.text_det)
        crops = line_crops(image, boxes)
        batches = plan_rec_batches(crops, cfg.text_rec)
        outputs = [self.rec_model(batch.tensor) for batch in batches]
        return confident_lines(boxes, decode_batches(batches, outputs, self.charset, len(crops)), cfg.text_rec)

    def predict(self, x: Any, **overrides: dict[str, Any]) -> Iterator[OCRResult]:
        """Yield a result per image of ``x`` (array, bytes, path, URL, directory, ``{"img": ...}`` or a list).

        ``overrides`` replace config fields per call, by section: ``predict(x, text_det={"box_thresh": 0.5})``.
        """
        cfg = self.config.with_overrides(**overrides) if overrides else self.config
        for input_path, source in iter_inputs(x):
            image = load_image(source, cfg.image)
            yield OCRResult(input_path, self.ocr(image, cfg), image)

    __call__ = predict


def create_pipeline(
    pipeline: str | Path | OCRConfig = "OCR", device: str = "cpu", server: str | None = None, **_: Any
) -> Any:
    """PaddleX-style factory: ``create_pipeline("OCR")`` or ``create_pipeline("path/OCR.yaml")``.

    With ``server="grpc://host:8001"`` (or ``http://host:8000``) the returned object runs on a Triton server
    through the client library and has the same ``predict``.
    """
    config = load_config(pipeline)
    if not device.startswith("cpu"):
        raise ConfigError(f"device {device!r} is not available in-process; run a GPU Triton server and use server=")
    if server is not None:
        from triton_ocr_client import OCRClient

        return OCRClient.from_url(server, config=config)
    return OCRPipeline(config)
