"""The pipeline's stages composed from the steps, independent of where the models run.

The in-process pipeline calls them with local models; the Triton python models call them with Triton BLS calls.
Data flow: image → :func:`det_input` → detector → :func:`boxes_from_prob_map` → :func:`line_crops` →
[optional, ``use_textline_orientation``: :func:`orientation_batches` → classifier → :func:`upright_crops`] →
:func:`plan_rec_batches` → recogniser → :func:`best_path` (in-process; inside the Triton model) →
:func:`decode_batches` → :func:`confident_lines`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from triton_ocr.config import DetConfig, RecConfig
from triton_ocr.steps.box_sorting import reading_order
from triton_ocr.steps.ctc_decode import best_path, ctc_collapse
from triton_ocr.steps.db_postprocess import DetectedBoxes, db_postprocess
from triton_ocr.steps.det_resize import resize_for_det
from triton_ocr.steps.line_crop import crop_lines
from triton_ocr.steps.normalization import det_input_tensor
from triton_ocr.steps.rec_batching import RecBatch, plan_rec_batches
from triton_ocr.steps.textline_orientation import orientation_batches, upright_crops

__all__ = [
    "OCRLines",
    "RecBatch",
    "boxes_from_prob_map",
    "best_path",
    "confident_lines",
    "decode_batches",
    "det_input",
    "line_crops",
    "orientation_batches",
    "plan_rec_batches",
    "upright_crops",
]


@dataclass(frozen=True)
class OCRLines:
    """Recognised lines in reading order: polygons (N, 4, 2) float32 in image pixels, their detection scores (N,),
    texts (N) and recognition scores (N,)."""

    polys: np.ndarray
    det_scores: np.ndarray
    texts: list[str]
    rec_scores: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)


def det_input(image: np.ndarray, cfg: DetConfig) -> np.ndarray:
    """BGR uint8 (H, W, 3) → detector input float32 (1, 3, h, w)."""
    return det_input_tensor(resize_for_det(image, cfg), cfg.mean, cfg.std)


def boxes_from_prob_map(prob_map: np.ndarray, image_hw: tuple[int, int], cfg: DetConfig) -> DetectedBoxes:
    """Detector output (1, 1, h, w) or (h, w) → boxes in reading order, in original-image pixels."""
    found = db_postprocess(np.asarray(prob_map, np.float32).reshape(prob_map.shape[-2:]), image_hw, cfg)
    order = reading_order(found.boxes, cfg.line_tolerance)
    return DetectedBoxes(found.boxes[order], found.scores[order])


def line_crops(image: np.ndarray, boxes: DetectedBoxes) -> list[np.ndarray]:
    """One upright BGR crop per box."""
    return crop_lines(image, boxes.boxes)


def decode_batches(
    batches: Sequence[RecBatch], paths: Sequence[tuple[np.ndarray, np.ndarray]], charset: Sequence[str], count: int
) -> list[tuple[str, float]]:
    """Each batch's best path — (classes, probabilities), both (n, T): :func:`best_path` of the recogniser's
    output, or the Triton recogniser's two outputs — → ``count`` (text, score) pairs in the crops' order."""
    results: list[tuple[str, float]] = [("", 0.0)] * count
    for batch, (classes, confidences) in zip(batches, paths, strict=True):
        for index, decoded in zip(batch.indices, ctc_collapse(classes, confidences, charset), strict=True):
            results[int(index)] = decoded
    return results


def confident_lines(boxes: DetectedBoxes, recognised: Sequence[tuple[str, float]], cfg: RecConfig) -> OCRLines:
    """Keep the lines whose recognition score reaches ``cfg.score_thresh`` and whose text is not empty."""
    keep = [i for i, (text, score) in enumerate(recognised) if text and score >= cfg.score_thresh]
    return OCRLines(
        polys=boxes.boxes[keep] if keep else np.zeros((0, 4, 2), np.float32),
        det_scores=boxes.scores[keep] if keep else np.zeros((0,), np.float32),
        texts=[recognised[i][0] for i in keep],
        rec_scores=np.array([recognised[i][1] for i in keep], dtype=np.float32),
    )
