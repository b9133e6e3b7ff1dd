"""Step 8b (optional, ``return_word_box``): each line's words and their polygons, from the CTC alignment.

The recogniser's best path says at which time step each kept character was read; a step is a fixed slice of the
recogniser's input width, so a character's steps are a stretch of the (resized, right-padded) line crop, and the
crop is the line polygon rectified (:mod:`triton_ocr.steps.line_crop`). A word spans from half a character pitch
before its first character's centre to half a pitch after its last one's, over the line's full height, and maps
back through the crop's turn (vertical lines, upside-down lines) and perspective to image pixels.

Words are split at whitespace, and every CJK character (Han, kana) is a word of its own, as PaddleOCR splits Chinese
text. Unlike PaddleOCR, punctuation stays in the word it touches (``"Date:"``, ``"(1)"``) instead of being dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import cv2
import numpy as np

from triton_ocr.steps.ctc_decode import ctc_runs

SINGLE_CHAR_WORD = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
"""Scripts written without spaces, where each character is a word: kana, CJK ideographs (and extension A)."""
ROTATED_MARGIN = 1.2
"""A crop is taken as a vertical line turned by 90° when it is this much wider than tall while its polygon is this
much taller than wide (its own size, without the crop's scaling, decides the turn at a ratio of 1.5)."""
UNIT_SQUARE = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)


def group_words(chars: Sequence[str]) -> list[tuple[int, int]]:
    """A line's characters → each word's (first, last) character index, in reading order: words split at
    whitespace; a CJK character (:data:`SINGLE_CHAR_WORD`) is a word on its own; punctuation stays in its word."""
    words: list[tuple[int, int]] = []
    start: int | None = None
    for index, char in enumerate(chars):
        alone = SINGLE_CHAR_WORD.match(char) is not None
        if (char.isspace() or alone) and start is not None:
            words.append((start, index - 1))
            start = None
        if alone:
            words.append((index, index))
        elif not char.isspace() and start is None:
            start = index
    if start is not None:
        words.append((start, len(chars) - 1))
    return words


def word_spans(starts: np.ndarray, ends: np.ndarray, words: Sequence[tuple[int, int]], steps: float) -> np.ndarray:
    """Each word's stretch along the line in time steps, float32 (k, 2) within [0, ``steps``].

    ``starts``/``ends`` int (n,): each character's first and last step (inclusive); ``steps``: how many steps the
    line itself covers (the rest is padding). A character sits at the middle of its steps; a word reaches half the
    line's median character pitch beyond its outer characters (a one-character line: the whole line)."""
    centres = (np.asarray(starts, np.float32) + np.asarray(ends, np.float32) + 1) / 2
    if len(centres) < 2:
        return np.tile(np.array([[0.0, steps]], np.float32), (len(words), 1))
    half_pitch = float(np.median(np.diff(centres))) / 2
    spans = np.array([[centres[first] - half_pitch, centres[last] + half_pitch] for first, last in words], np.float32)
    return np.clip(spans, 0.0, steps).reshape(-1, 2)


def is_turned_vertical(quad: np.ndarray, crop_hw: tuple[int, int]) -> bool:
    """Whether the crop of ``quad`` (4, 2; tl, tr, br, bl) with shape ``crop_hw`` is a vertical line turned by 90°
    (see :data:`ROTATED_MARGIN`)."""
    quad = np.asarray(quad, np.float32)
    width = max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3]))
    height = max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2]))
    return bool(crop_hw[1] > ROTATED_MARGIN * crop_hw[0] and height > ROTATED_MARGIN * width)


def spans_to_polys(spans: np.ndarray, quad: np.ndarray, vertical: bool, upside_down: bool) -> np.ndarray:
    """Stretches along the crop's reading direction, as fractions of its length, float (k, 2) → polygons float32
    (k, 4, 2) in image pixels, corners in ``quad``'s order (each corner beside the line's same corner).

    The crop is the unit square of the rectified polygon, turned 90° counter-clockwise when ``vertical`` and then
    by 180° when ``upside_down`` (the text-line classifier turned it); each word takes the crop's full height."""
    spans = np.asarray(spans, np.float32).reshape(-1, 2)
    u0, u1 = spans[:, 0], spans[:, 1]
    if upside_down:
        u0, u1 = 1 - u1, 1 - u0
    zeros, ones = np.zeros_like(u0), np.ones_like(u0)
    # the word's box in the rectified polygon's unit square: x0, y0, x1, y1
    x0, y0, x1, y1 = (zeros, u0, ones, u1) if vertical else (u0, zeros, u1, ones)
    corners = np.stack([np.stack([x0, y0], 1), np.stack([x1, y0], 1), np.stack([x1, y1], 1), np.stack([x0, y1], 1)], 1)
    matrix = cv2.getPerspectiveTransform(UNIT_SQUARE, np.asarray(quad, np.float32))
    return cv2.perspectiveTransform(corners.reshape(1, -1, 2), matrix).reshape(-1, 4, 2).astype(np.float32)


def line_words(
    classes: np.ndarray,
    charset: Sequence[str],
    line_steps: float,
    quad: np.ndarray,
    crop_hw: tuple[int, int],
    upside_down: bool = False,
) -> tuple[list[str], np.ndarray]:
    """One line's words and their polygons.

    ``classes`` int (T,): the line's best-path classes; ``line_steps``: how many of the T steps the line covers
    (the rest of the recogniser's input is padding); ``quad`` float (4, 2): the line polygon in image pixels;
    ``crop_hw``: its crop's (h, w); ``upside_down``: the crop was turned by 180° before recognition. Returns the
    words (reading order) and float32 (k, 4, 2) polygons in image pixels.
    """
    kept, starts, ends = ctc_runs(classes)
    chars = [charset[int(c)] for c in kept]
    words = group_words(chars)
    if not words:
        return [], np.zeros((0, 4, 2), np.float32)
    spans = word_spans(starts, ends, words, line_steps) / max(line_steps, 1e-6)
    polys = spans_to_polys(spans, quad, is_turned_vertical(quad, crop_hw), upside_down)
    return ["".join(chars[first : last + 1]) for first, last in words], polys
