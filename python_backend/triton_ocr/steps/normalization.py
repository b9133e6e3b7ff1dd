"""Step 3: uint8 images → float32 NCHW tensors the recognition and orientation models take (the detector normalises
its pixels in its graph: :mod:`triton_ocr.models.pixel_input`)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def normalize_to_chw(
    image: np.ndarray, mean: Sequence[float], std: Sequence[float], scale: float = 1.0 / 255.0
) -> np.ndarray:
    """uint8 (H, W, C) → float32 (C, H, W) computed as ``(image * scale - mean) / std`` per channel.

    One pass in OpenCV (``blobFromImageWithParams``: ``(image - mean / scale) * scale / std``): 2 ms for a 736 ×
    1152 image where numpy's casts, transpose and two arithmetic passes took 17 (equal to 1e-6)."""
    params = cv2.dnn.Image2BlobParams()
    params.scalefactor = (*(scale / s for s in std), 0.0)[:4]
    params.mean = (*(m / scale for m in mean), 0.0)[:4]
    params.ddepth = cv2.CV_32F
    params.datalayout = cv2.dnn.DNN_LAYOUT_NCHW
    return cv2.dnn.blobFromImageWithParams(image, params)[0]
