"""Step 2: choose the detection input size and resize the image to it."""

from __future__ import annotations

import cv2
import numpy as np

from triton_ocr.config import DetConfig


def det_input_size(height: int, width: int, cfg: DetConfig) -> tuple[int, int]:
    """The (height, width) the detector sees: scaled by the side limit, each a multiple of 32 (≥ 32).

    ``limit_type="max"`` shrinks images whose long side exceeds ``limit_side_len`` (PaddleX's default for the
    PP-OCRv4 exports); ``"min"`` enlarges images whose short side is below it. Then a short side still below
    ``min_side_len`` is enlarged to it (a text line or a thin strip would otherwise reach the detector 32 px tall
    and come back in fragments), and ``max_side_limit`` caps the long side.
    """
    if cfg.limit_type == "max":
        long_side = max(height, width)
        ratio = cfg.limit_side_len / long_side if long_side > cfg.limit_side_len else 1.0
    elif cfg.limit_type == "min":
        short_side = min(height, width)
        ratio = cfg.limit_side_len / short_side if short_side < cfg.limit_side_len else 1.0
    else:
        raise ValueError(f"limit_type must be 'max' or 'min', got {cfg.limit_type!r}")
    if min(height, width) * ratio < cfg.min_side_len:
        ratio = cfg.min_side_len / min(height, width)
    new_h, new_w = int(height * ratio), int(width * ratio)
    if max(new_h, new_w) > cfg.max_side_limit:
        cap = cfg.max_side_limit / max(new_h, new_w)
        new_h, new_w = int(new_h * cap), int(new_w * cap)
    return max(int(round(new_h / 32) * 32), 32), max(int(round(new_w / 32) * 32), 32)


def resize_for_det(image: np.ndarray, cfg: DetConfig) -> np.ndarray:
    """BGR (H, W, 3) → BGR (h, w, 3) with h and w from :func:`det_input_size`."""
    new_h, new_w = det_input_size(image.shape[0], image.shape[1], cfg)
    return cv2.resize(image, (new_w, new_h))
