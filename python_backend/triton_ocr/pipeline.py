"""The in-process OCR pipeline: the stages with local ONNX models (Paddle models converted). No server needed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from triton_ocr.config import OCRConfig, RecConfig, TextlineOrientationConfig, load_config
from triton_ocr.engine import InferenceModel, load_model
from triton_ocr.errors import ConfigError
from triton_ocr.inputs import iter_inputs
from triton_ocr.models.charset import load_charset
from triton_ocr.models.registry import resolve_pipeline_models
from triton_ocr.result import OCRResult
from triton_ocr.stages import (
    OCRLines,
    best_path,
    boxes_from_prob_map,
    confident_lines,
    decode_batches,
    det_input,
    line_crops,
    orientation_batches,
    plan_rec_batches,
    upright_crops,
)
from triton_ocr.steps.image_loading import load_image


class OCRPipeline:
    """Detection (+ text-line orientation) + recognition with models loaded in this process.

    ``predict(x)`` yields one :class:`OCRResult` per image; ``ocr(image)`` runs one decoded BGR image. ``config``
    becomes :attr:`config` with the settings of the models' ``inference.yml`` files applied where it keeps defaults.
    """

    def __init__(self, config: OCRConfig) -> None:
        models = resolve_pipeline_models(config)
        self.config = models.config
        self.det_model: InferenceModel = load_model(models.det.onnx_path, config.runtime)
        self.rec_model: InferenceModel = load_model(models.rec.onnx_path, config.runtime)
        self.cls_model: InferenceModel | None = (
            load_model(models.orientation.onnx_path, config.runtime) if models.orientation else None
        )
        self.charset = load_charset(self.rec_model.metadata(), models.rec.charset_path)

    def ocr(self, image: np.ndarray, config: OCRConfig | None = None) -> OCRLines:
        """BGR uint8 (H, W, 3) → recognised lines in reading order."""
        cfg = config or self.config
        prob_map = self.det_model(det_input(image, cfg.text_det))
        boxes = boxes_from_prob_map(prob_map, image.shape[:2], cfg.text_det)
        crops = line_crops(image, boxes)
        if cfg.use_textline_orientation:
            crops = self.orient(crops, cfg.textline_orientation)
        return confident_lines(boxes, self.read(crops, cfg.text_rec), cfg.text_rec)

    def read(self, crops: list[np.ndarray], cfg: RecConfig) -> list[tuple[str, float]]:
        """Upright BGR line crops → (text, score) each, in the crops' order (no score filter)."""
        batches = plan_rec_batches(crops, cfg)
        paths = [best_path(self.rec_model(batch.tensor)) for batch in batches]
        return decode_batches(batches, paths, self.charset, len(crops))

    def orient(self, crops: list[np.ndarray], cfg: TextlineOrientationConfig) -> list[np.ndarray]:
        """BGR line crops → the same crops, those the angle classifier finds upside down rotated by 180°."""
        if self.cls_model is None:
            raise ConfigError(
                "text-line orientation is off in this pipeline: create it with use_textline_orientation: true"
            )
        if not crops:
            return crops
        probs = np.concatenate([self.cls_model(batch) for batch in orientation_batches(crops, cfg)])
        return upright_crops(crops, probs, cfg)

    def predict(self, x: Any, **overrides: Any) -> Iterator[OCRResult]:
        """Yield a result per image of ``x`` (array, bytes, path, URL, directory, ``{"img": ...}`` or a list).

        ``overrides`` replace config fields per call, by section: ``predict(x, text_det={"box_thresh": 0.5})``,
        or top-level flags: ``predict(x, use_textline_orientation=False)``.
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
