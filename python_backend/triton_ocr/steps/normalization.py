"""Step 3: uint8 images → float32 NCHW tensors the models take."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def normalize_to_chw(
    image: np.ndarray, mean: Sequence[float], std: Sequence[float], scale: float = 1.0 / 255.0
) -> np.ndarray:
    """uint8 (H, W, C) → float32 (C, H, W) computed as ``(image * scale - mean) / std`` per channel."""
    mean_arr = np.asarray(mean, dtype=np.float32)
    inv_std = 1.0 / np.asarray(std, dtype=np.float32)
    chw = image.astype(np.float32).transpose(2, 0, 1)
    return (chw * np.float32(scale) - mean_arr[:, None, None]) * inv_std[:, None, None]


def det_input_tensor(resized: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """Resized BGR uint8 (h, w, 3) → float32 (1, 3, h, w), the detector's input."""
    return normalize_to_chw(resized, mean, std)[None]
