"""Step 3b: detection shape buckets — pad the detector input so that images of nearby sizes share one shape.

Triton's dynamic batcher only merges requests of equal shape. Padding the resized image with the mean colour (what
the normalised input's zeros were, to the nearest pixel value) up to a multiple of ``multiple`` px makes a few shapes
out of many; the padded band of the probability map is cut off again before post-processing. ``multiple=32``
changes nothing: detector sizes already are multiples of 32.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def padded_size(height: int, width: int, multiple: int) -> tuple[int, int]:
    """(height, width) rounded up to multiples of ``multiple``."""
    return -(-height // multiple) * multiple, -(-width // multiple) * multiple


def pad_det_input(pixels: np.ndarray, multiple: int, mean: Sequence[float]) -> np.ndarray:
    """uint8 (1, h, w, 3) → (1, H, W, 3) with H, W from :func:`padded_size`; the new area is ``mean`` (per channel,
    0–1) as pixel values."""
    height, width = pixels.shape[1:3]
    target_h, target_w = padded_size(height, width, multiple)
    if (target_h, target_w) == (height, width):
        return pixels
    padded = np.empty((len(pixels), target_h, target_w, pixels.shape[3]), dtype=pixels.dtype)
    padded[:] = np.round(np.asarray(mean) * 255).astype(pixels.dtype)
    padded[:, :height, :width] = pixels
    return padded


def unpad_prob_map(prob_map: np.ndarray, valid_hw: tuple[int, int]) -> np.ndarray:
    """Detector output (..., H, W) → (..., h, w): the part that covers the image."""
    height, width = valid_hw
    return prob_map[..., :height, :width]
