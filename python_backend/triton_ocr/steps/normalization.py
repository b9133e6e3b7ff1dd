"""Step 3: uint8 images → float32 NCHW tensors the models take."""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

import cv2
import numpy as np

BAND_ROWS = 32
"""Rows normalised per call when a tensor is written into a :class:`Scratch` buffer (OpenCV's blob call cannot write
into a given array; bands keep its temporaries small)."""


def normalize_to_chw(
    image: np.ndarray, mean: Sequence[float], std: Sequence[float], scale: float = 1.0 / 255.0
) -> np.ndarray:
    """uint8 (H, W, C) → float32 (C, H, W) computed as ``(image * scale - mean) / std`` per channel.

    One pass in OpenCV (``blobFromImageWithParams``: ``(image - mean / scale) * scale / std``): 2 ms for a 736 ×
    1152 detector input where numpy's casts, transpose and two arithmetic passes took 17 (equal to 1e-6)."""
    params = cv2.dnn.Image2BlobParams()
    params.scalefactor = (*(scale / s for s in std), 0.0)[:4]
    params.mean = (*(m / scale for m in mean), 0.0)[:4]
    params.ddepth = cv2.CV_32F
    params.datalayout = cv2.dnn.DNN_LAYOUT_NCHW
    return cv2.dnn.blobFromImageWithParams(image, params)[0]


class Scratch:
    """A float32 buffer per thread, kept between calls and grown as needed, for a tensor its caller is done with
    before its next call on the same thread (the in-process detector's input: the engines copy or consume it within
    the call). A fresh page-sized array is mapped and faulted in on every page; written into pages already mapped, the
    in-process pipeline read PP-OCRv6 tiny pages 3.6 % faster (docs/performance.md, fifth pass). Tensors above
    ``max_elements`` get arrays of their own (the buffer would hold their size for good)."""

    def __init__(self, max_elements: int) -> None:
        self.max_elements = max_elements
        self._local = threading.local()

    def array(self, shape: tuple[int, ...]) -> np.ndarray | None:
        """A float32 view of ``shape`` on this thread's buffer (its contents undefined), or None above the limit."""
        size = math.prod(shape)
        if size > self.max_elements:
            return None
        buffer = getattr(self._local, "buffer", None)
        if buffer is None or buffer.size < size:
            buffer = self._local.buffer = np.empty(size, np.float32)
        return buffer[:size].reshape(shape)


def det_input_tensor(
    resized: np.ndarray, mean: Sequence[float], std: Sequence[float], scratch: Scratch | None = None
) -> np.ndarray:
    """Resized BGR uint8 (h, w, 3) → float32 (1, 3, h, w), the detector's input; with ``scratch``, written into its
    buffer band by band (:data:`BAND_ROWS`; the same values), valid until this thread's next call."""
    height, width = resized.shape[:2]
    tensor = scratch.array((1, 3, height, width)) if scratch is not None else None
    if tensor is None:
        return normalize_to_chw(resized, mean, std)[None]
    for top in range(0, height, BAND_ROWS):
        tensor[0, :, top : top + BAND_ROWS] = normalize_to_chw(resized[top : top + BAND_ROWS], mean, std)
    return tensor
