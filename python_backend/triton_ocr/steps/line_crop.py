"""Step 6: cut each text quadrilateral out of the image as an upright line image."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import overload

import cv2
import numpy as np

VERTICAL_RATIO = 1.5


def crop_size(quad: np.ndarray) -> tuple[int, int]:
    """The (width, height) of ``quad``'s (4, 2; tl, tr, br, bl) rectified crop: its longer opposite edges."""
    quad = quad.astype(np.float32)
    width = max(int(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3]))), 1)
    height = max(int(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2]))), 1)
    return width, height


def scaled_size(quad: np.ndarray, scale: float = 1.0) -> tuple[int, int]:
    """:func:`crop_size` times ``scale`` (≤ 1), at least 1 px each."""
    width, height = crop_size(quad)
    if scale < 1.0:
        width, height = max(int(width * scale), 1), max(int(height * scale), 1)
    return width, height


def crop_line(image: np.ndarray, quad: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Perspective-rectify ``quad`` (4, 2; tl, tr, br, bl) of BGR ``image`` into a (h, w, 3) crop, its size
    :func:`crop_size` times ``scale`` (≤ 1: a smaller crop of the same region).

    Crops at least 1.5× taller than wide are taken as vertical text and rotated 90° counter-clockwise.
    """
    width, height = scaled_size(quad, scale)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
    crop = cv2.warpPerspective(
        image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC
    )
    if crop.shape[0] / crop.shape[1] >= VERTICAL_RATIO:
        crop = np.ascontiguousarray(np.rot90(crop))
    return crop


def crop_shape(quad: np.ndarray, scale: float = 1.0) -> tuple[int, int]:
    """The (h, w) of :func:`crop_line`'s crop of ``quad`` at ``scale``, without cutting it."""
    width, height = scaled_size(quad, scale)
    return (width, height) if height / width >= VERTICAL_RATIO else (height, width)


class LineCrops(Sequence[np.ndarray]):
    """:func:`crop_line` of each of an image's quads, cut when first read (and kept); their :attr:`shapes` are known
    before, so recognition plans its chunks first and cuts each chunk's lines while earlier chunks run."""

    def __init__(self, image: np.ndarray, quads: np.ndarray, scale: float = 1.0) -> None:
        self.image, self.quads, self.scale = image, quads, scale
        self.shapes = [crop_shape(quad, scale) for quad in quads]
        self._crops: list[np.ndarray | None] = [None] * len(quads)

    def __len__(self) -> int:
        return len(self._crops)

    @overload
    def __getitem__(self, index: int) -> np.ndarray: ...

    @overload
    def __getitem__(self, index: slice) -> list[np.ndarray]: ...

    def __getitem__(self, index: int | slice) -> np.ndarray | list[np.ndarray]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        crop = self._crops[index]
        if crop is None:
            crop = self._crops[index] = crop_line(self.image, self.quads[index], self.scale)
        return crop


def crop_lines(image: np.ndarray, quads: np.ndarray, max_pixels: int | None = None) -> LineCrops:
    """:func:`crop_line` for each of ``quads`` (N, 4, 2), each cut when first read. When their crops would hold
    more than ``max_pixels`` pixels in all (boxes nested in each other: each crop can be as large as the image),
    every crop is cut smaller by one factor so that they hold at most that many; recognition scales each crop to
    its input height anyway."""
    scale = 1.0
    if max_pixels is not None and len(quads):
        total = sum(width * height for width, height in map(crop_size, quads))
        if total > max_pixels:
            scale = math.sqrt(max_pixels / total)
    return LineCrops(image, quads, scale)


def crop_shapes(crops: Sequence[np.ndarray]) -> list[tuple[int, int]]:
    """The (h, w) of each crop; of a :class:`LineCrops` without cutting them."""
    return crops.shapes if isinstance(crops, LineCrops) else [crop.shape[:2] for crop in crops]
