"""Step 6: cut each text quadrilateral out of the image as an upright line image."""

from __future__ import annotations

import cv2
import numpy as np

VERTICAL_RATIO = 1.5


def crop_line(image: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Perspective-rectify ``quad`` (4, 2; tl, tr, br, bl) of BGR ``image`` into a (h, w, 3) crop.

    Crops at least 1.5× taller than wide are taken as vertical text and rotated 90° counter-clockwise.
    """
    quad = quad.astype(np.float32)
    width = max(int(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3]))), 1)
    height = max(int(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2]))), 1)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(quad, target)
    crop = cv2.warpPerspective(
        image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC
    )
    if crop.shape[0] / crop.shape[1] >= VERTICAL_RATIO:
        crop = np.ascontiguousarray(np.rot90(crop))
    return crop


def crop_lines(image: np.ndarray, quads: np.ndarray) -> list[np.ndarray]:
    """:func:`crop_line` for each of ``quads`` (N, 4, 2)."""
    return [crop_line(image, quad) for quad in quads]
