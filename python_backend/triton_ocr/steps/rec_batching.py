"""Step 7: line crops → recognition batches.

Lines are sorted by aspect ratio and chunked, so each chunk pads little; each chunk's width is its widest line's
(at least ``min_width``), rounded up to ``width_step`` so that batches of different images share a few shapes —
which is what lets Triton's dynamic batcher merge them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from triton_ocr.config import RecConfig
from triton_ocr.steps.normalization import normalize_to_chw

REC_MEAN = (0.5, 0.5, 0.5)
REC_STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class RecBatch:
    """``tensor`` float32 (n, 3, H, W) holds the lines at positions ``indices`` (n,) of the caller's list."""

    indices: np.ndarray
    tensor: np.ndarray


def batch_width(max_ratio: float, cfg: RecConfig) -> int:
    """Input width for a batch whose widest line has aspect ratio ``max_ratio`` (w / h)."""
    width = max(int(cfg.image_height * max_ratio), cfg.min_width)
    width = math.ceil(width / cfg.width_step) * cfg.width_step
    return min(width, cfg.max_width)


def resized_width(crop_hw: tuple[int, int], height: int, width: int) -> int:
    """How wide a crop of shape ``crop_hw`` (h, w) is in an input (``height``, ``width``): scaled to ``height``
    keeping its ratio, squeezed to ``width`` where wider; the rest of the input is padding."""
    return min(width, math.ceil(height * crop_hw[1] / crop_hw[0]))


def resize_line(crop: np.ndarray, height: int, width: int) -> np.ndarray:
    """BGR crop → float32 (3, height, width): scaled to ``height`` keeping its ratio, zero-padded on the right."""
    resized_w = resized_width(crop.shape[:2], height, width)
    resized = cv2.resize(crop, (resized_w, height))
    padded = np.zeros((3, height, width), dtype=np.float32)
    padded[:, :, :resized_w] = normalize_to_chw(resized, REC_MEAN, REC_STD)
    return padded


@dataclass(frozen=True)
class RecChunk:
    """The lines at positions ``indices`` (n,) of the caller's list, recognised together in an input ``width``
    wide."""

    indices: np.ndarray
    width: int


def plan_rec_chunks(
    shapes: Sequence[tuple[int, int]], cfg: RecConfig, batch_size: int | None = None
) -> list[RecChunk]:
    """Crops of these (h, w) shapes sorted by aspect ratio, in chunks of at most ``batch_size`` lines."""
    if not shapes:
        return []
    size = batch_size or cfg.batch_size
    ratios = np.array([w / h for h, w in shapes])
    order = np.argsort(ratios, kind="stable")
    return [
        RecChunk(indices, batch_width(float(ratios[indices].max()), cfg))
        for indices in (order[start : start + size] for start in range(0, len(order), size))
    ]


def costliest_first(chunks: Sequence[RecChunk]) -> list[RecChunk]:
    """The chunks in the order to run them: the largest input (lines × width) first, ties in the plan's order.
    With several chunks in flight the widest then do not run last and alone while the other streams idle
    (longest-processing-time-first; measured in docs/performance.md, seventh pass)."""
    return sorted(chunks, key=lambda chunk: -len(chunk.indices) * chunk.width)


def chunk_tensor(crops: Sequence[np.ndarray], chunk: RecChunk, cfg: RecConfig) -> np.ndarray:
    """The chunk's crops as the recogniser's float32 input (n, 3, image_height, chunk.width)."""
    return np.stack([resize_line(crops[i], cfg.image_height, chunk.width) for i in chunk.indices])


def chunk_batch(crops: Sequence[np.ndarray], chunk: RecChunk, cfg: RecConfig) -> RecBatch:
    """The chunk's lines and their input (:func:`chunk_tensor`)."""
    return RecBatch(chunk.indices, chunk_tensor(crops, chunk, cfg))


def plan_rec_batches(crops: Sequence[np.ndarray], cfg: RecConfig, batch_size: int | None = None) -> list[RecBatch]:
    """Sort ``crops`` by aspect ratio and build padded batches of at most ``batch_size`` lines."""
    chunks = plan_rec_chunks([crop.shape[:2] for crop in crops], cfg, batch_size)
    return [chunk_batch(crops, chunk, cfg) for chunk in chunks]
