"""Step 2: choose the detection input size and resize the image to it."""

from __future__ import annotations

import math

import cv2
import numpy as np

from triton_ocr.config import DetConfig


def det_input_size(height: int, width: int, cfg: DetConfig) -> tuple[int, int]:
    """The (height, width) the detector sees: scaled by the side limit, each a multiple of 32 (≥ 32).

    ``limit_type="max"`` shrinks images whose long side exceeds ``limit_side_len`` (PaddleX's default for the
    PP-OCRv4 exports); ``"min"`` enlarges images whose short side is below it, by at most ``max_upscale``. Then a
    short side still below ``min_side_len`` is enlarged to it (a text line or a thin strip would otherwise reach
    the detector 32 px tall and come back in fragments), ``max_side_limit`` caps the long side, and
    ``max_input_pixels`` caps the area (the detector's cost), whatever the limit type and side length asked.
    """
    if cfg.limit_type == "max":
        long_side = max(height, width)
        ratio = cfg.limit_side_len / long_side if long_side > cfg.limit_side_len else 1.0
    elif cfg.limit_type == "min":
        short_side = min(height, width)
        ratio = min(cfg.limit_side_len / short_side, cfg.max_upscale) if short_side < cfg.limit_side_len else 1.0
    else:
        raise ValueError(f"limit_type must be 'max' or 'min', got {cfg.limit_type!r}")
    if min(height, width) * ratio < cfg.min_side_len:
        ratio = cfg.min_side_len / min(height, width)
    new_h, new_w = int(height * ratio), int(width * ratio)
    if max(new_h, new_w) > cfg.max_side_limit:
        cap = cfg.max_side_limit / max(new_h, new_w)
        new_h, new_w = int(new_h * cap), int(new_w * cap)
    size = max(int(round(new_h / 32) * 32), 32), max(int(round(new_w / 32) * 32), 32)
    if size[0] * size[1] <= cfg.max_input_pixels:
        return size
    return within_pixel_budget(new_h, new_w, cfg.max_input_pixels)


def within_pixel_budget(height: int, width: int, budget: int) -> tuple[int, int]:
    """(height, width) scaled down to at most ``budget`` pixels, each rounded *down* to a multiple of 32 (≥ 32), so
    that the rounded area holds the budget too (``budget`` ≥ 32 × 32)."""
    scale = min(1.0, math.sqrt(budget / max(height * width, 1)))
    short, long = sorted((height * scale, width * scale))
    short_32 = max(int(short // 32) * 32, 32)
    long_32 = max(min(int(long // 32) * 32, budget // short_32 // 32 * 32), 32)
    return (short_32, long_32) if height <= width else (long_32, short_32)


def resize_for_det(image: np.ndarray, cfg: DetConfig) -> np.ndarray:
    """BGR (H, W, 3) → BGR (h, w, 3) with h and w from :func:`det_input_size`."""
    new_h, new_w = det_input_size(image.shape[0], image.shape[1], cfg)
    return cv2.resize(image, (new_w, new_h))
