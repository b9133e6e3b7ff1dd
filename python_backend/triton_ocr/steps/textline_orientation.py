"""Step 6b (optional): text-line orientation — turn upside-down line crops before recognition.

The PP-OCR angle classifier (``ch_ppocr_mobile_v2.0_cls``) sees each crop like the recogniser does (BGR, scaled to
the input height keeping its ratio, ``(x / 255 - 0.5) / 0.5``, zero-padded on the right, squeezed where wider) and
outputs the probabilities of the classes ``0`` and ``180``. The input shape is fixed, so crops need no sorting.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from triton_ocr.config import TextlineOrientationConfig
from triton_ocr.steps.rec_batching import resize_line

LABELS = ("0", "180")
UPSIDE_DOWN = LABELS.index("180")


def orientation_batches(crops: Sequence[np.ndarray], cfg: TextlineOrientationConfig) -> list[np.ndarray]:
    """BGR uint8 crops (h, w, 3) → classifier inputs float32 (n, 3, image_height, image_width), in the crops' order,
    ``n`` ≤ ``cfg.batch_size``; no crops → no batches."""
    tensors = [resize_line(crop, cfg.image_height, cfg.image_width) for crop in crops]
    return [np.stack(tensors[start : start + cfg.batch_size]) for start in range(0, len(tensors), cfg.batch_size)]


def upside_down(probs: np.ndarray, cfg: TextlineOrientationConfig) -> np.ndarray:
    """Classifier output float32 (N, 2) → bool (N,): class ``180`` with probability ≥ ``cfg.score_thresh``."""
    probs = np.asarray(probs, np.float32).reshape(-1, len(LABELS))
    return (probs.argmax(axis=1) == UPSIDE_DOWN) & (probs[:, UPSIDE_DOWN] >= cfg.score_thresh)


def upright_crops(
    crops: Sequence[np.ndarray], probs: np.ndarray, cfg: TextlineOrientationConfig
) -> list[np.ndarray]:
    """The crops, each rotated by 180° where :func:`upside_down` says so; ``probs`` (N, 2) in the crops' order."""
    flags = upside_down(probs, cfg)
    if len(flags) != len(crops):
        raise ValueError(f"{len(crops)} crops but {len(flags)} classifier outputs")
    return [np.ascontiguousarray(crop[::-1, ::-1]) if flag else crop for crop, flag in zip(crops, flags)]
