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


def scaled(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """A (width, height) times ``scale`` (≤ 1: smaller), at least 1 px each."""
    width, height = size
    if scale < 1.0:
        width, height = max(int(width * scale), 1), max(int(height * scale), 1)
    return width, height


def is_vertical(width: int, height: int) -> bool:
    """Crops at least 1.5× taller than wide are vertical text, turned to lie flat."""
    return height / width >= VERTICAL_RATIO


def crop_line(image: np.ndarray, quad: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Perspective-rectify ``quad`` (4, 2; tl, tr, br, bl) of BGR ``image`` into a (h, w, 3) crop, its size
    :func:`crop_size` times ``scale`` (≤ 1: a smaller crop of the same region).

    Crops at least 1.5× taller than wide are taken as vertical text and rotated 90° counter-clockwise.
    """
    return cut(image, quad, *scaled(crop_size(quad), scale))


def cut(image: np.ndarray, quad: np.ndarray, width: int, height: int) -> np.ndarray:
    """:func:`crop_line` with its (width, height) worked out already."""
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
    crop = cv2.warpPerspective(
        image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC
    )
    return np.ascontiguousarray(np.rot90(crop)) if is_vertical(width, height) else crop


class LineCrops(Sequence[np.ndarray]):
    """:func:`crop_line` of each of an image's quads at its (width, height) ``sizes``, cut when first read (and
    kept); their :attr:`shapes` are known before, so recognition plans its chunks first and cuts each chunk's lines
    while earlier chunks run."""

    def __init__(self, image: np.ndarray, quads: np.ndarray, sizes: list[tuple[int, int]]) -> None:
        self.image, self.quads, self.sizes = image, quads, sizes
        self.shapes = [(w, h) if is_vertical(w, h) else (h, w) for w, h in sizes]
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
            crop = self._crops[index] = cut(self.image, self.quads[index], *self.sizes[index])
        return crop


def crop_lines(image: np.ndarray, quads: np.ndarray, max_pixels: int | None = None) -> LineCrops:
    """:func:`crop_line` for each of ``quads`` (N, 4, 2), each cut when first read. When their crops would hold
    more than ``max_pixels`` pixels in all (boxes nested in each other: each crop can be as large as the image),
    every crop is cut smaller by one factor so that they hold at most that many; recognition scales each crop to
    its input height anyway."""
    sizes = [crop_size(quad) for quad in quads]
    total = sum(width * height for width, height in sizes)
    if max_pixels is not None and total > max_pixels:
        scale = math.sqrt(max_pixels / total)
        sizes = [scaled(size, scale) for size in sizes]
    return LineCrops(image, quads, sizes)


def crop_shapes(crops: Sequence[np.ndarray]) -> list[tuple[int, int]]:
    """The (h, w) of each crop; of a :class:`LineCrops` without cutting them."""
    return crops.shapes if isinstance(crops, LineCrops) else [crop.shape[:2] for crop in crops]
