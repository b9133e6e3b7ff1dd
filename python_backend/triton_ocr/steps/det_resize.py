"""Step 2: choose the detection input size and resize the image to it."""

from __future__ import annotations

import cv2
import numpy as np

from triton_ocr.config import DetConfig


def det_input_size(
    height: int, width: int, limit_side_len: int, limit_type: str, max_side_limit: int = 4000
) -> tuple[int, int]:
    """The (height, width) the detector sees: scaled by the side limit, each a multiple of 32 (≥ 32).

    ``limit_type="max"`` shrinks images whose long side exceeds ``limit_side_len`` (PaddleX's default for the
    PP-OCRv4 exports); ``"min"`` enlarges images whose short side is below it. ``max_side_limit`` caps the result.
    """
    if limit_type == "max":
        long_side = max(height, width)
        ratio = limit_side_len / long_side if long_side > limit_side_len else 1.0
    elif limit_type == "min":
        short_side = min(height, width)
        ratio = limit_side_len / short_side if short_side < limit_side_len else 1.0
    else:
        raise ValueError(f"limit_type must be 'max' or 'min', got {limit_type!r}")
    new_h, new_w = int(height * ratio), int(width * ratio)
    if max(new_h, new_w) > max_side_limit:
        cap = max_side_limit / max(new_h, new_w)
        new_h, new_w = int(new_h * cap), int(new_w * cap)
    return max(int(round(new_h / 32) * 32), 32), max(int(round(new_w / 32) * 32), 32)


def resize_for_det(image: np.ndarray, cfg: DetConfig) -> np.ndarray:
    """BGR (H, W, 3) → BGR (h, w, 3) with h and w from :func:`det_input_size`."""
    height, width = image.shape[:2]
    new_h, new_w = det_input_size(height, width, cfg.limit_side_len, cfg.limit_type, cfg.max_side_limit)
    return cv2.resize(image, (new_w, new_h))
