"""Step 3b: detection shape buckets — pad the detector input so that images of nearby sizes share one shape.

Triton's dynamic batcher only merges requests of equal shape. Padding the normalised input with zeros (the mean
colour) up to a multiple of ``multiple`` px makes a few shapes out of many; the padded band of the probability map
is cut off again before post-processing. ``multiple=32`` changes nothing: detector sizes already are multiples of 32.
"""

from __future__ import annotations

import numpy as np


def padded_size(height: int, width: int, multiple: int) -> tuple[int, int]:
    """(height, width) rounded up to multiples of ``multiple``."""
    return -(-height // multiple) * multiple, -(-width // multiple) * multiple


def pad_det_input(tensor: np.ndarray, multiple: int) -> np.ndarray:
    """float32 (1, 3, h, w) → (1, 3, H, W) with H, W from :func:`padded_size`; the new area is 0."""
    height, width = tensor.shape[-2:]
    target_h, target_w = padded_size(height, width, multiple)
    if (target_h, target_w) == (height, width):
        return tensor
    padded = np.zeros((*tensor.shape[:-2], target_h, target_w), dtype=tensor.dtype)
    padded[..., :height, :width] = tensor
    return padded


def unpad_prob_map(prob_map: np.ndarray, valid_hw: tuple[int, int]) -> np.ndarray:
    """Detector output (..., H, W) → (..., h, w): the part that covers the image."""
    height, width = valid_hw
    return prob_map[..., :height, :width]
