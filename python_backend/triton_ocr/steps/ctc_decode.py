"""Step 8: recognition output → text and confidence (CTC greedy decoding).

Two halves: :func:`best_path` (the most probable class and its probability at every time step) and
:func:`ctc_collapse` (classes → text). In-process both run here on the recogniser's (N, T, C) probabilities; the
Triton recogniser computes the best path inside the model (:mod:`triton_ocr.models.best_path`), so only (N, T)
tensors leave it, and ``ocr_postprocess`` runs :func:`ctc_collapse` alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BLANK = "blank"


def ctc_charset(characters: Sequence[str], use_space_char: bool = True) -> list[str]:
    """The model's class list: CTC blank first, then ``characters``, then (``use_space_char``) the space PP-OCR
    appends."""
    return [BLANK, *characters, *([" "] if use_space_char else [])]


def best_path(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 (N, T, C) per-step class probabilities → (classes int64 (N, T), their probabilities float32 (N, T));
    ties go to the lowest class, as ONNX ``ArgMax`` does."""
    if probs.ndim != 3:
        raise ValueError(f"probs must be (N, T, C), got {probs.shape}")
    return probs.argmax(axis=2), probs.max(axis=2)


def ctc_runs(classes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One line's best-path classes int (T,) → the characters CTC keeps (as :func:`ctc_collapse` does): their
    classes int64 (k,), and the first and last time step of each one's run int64 (k,) (inclusive)."""
    classes = np.asarray(classes, np.int64).reshape(-1)
    if classes.size == 0:
        empty = np.zeros((0,), np.int64)
        return empty, empty, empty
    starts = np.flatnonzero(np.r_[True, classes[1:] != classes[:-1]])
    ends = np.r_[starts[1:] - 1, classes.size - 1]
    kept = classes[starts] != 0
    return classes[starts][kept], starts[kept], ends[kept]


def ctc_collapse(
    classes: np.ndarray, confidences: np.ndarray, charset: Sequence[str]
) -> list[tuple[str, float]]:
    """Best-path classes (N, T) and their probabilities (N, T) → N pairs (text, mean probability of the kept steps).

    Repeated classes collapse and blanks drop; a line with no character scores 0.
    """
    classes = np.asarray(classes)
    if classes.ndim != 2 or classes.shape != np.shape(confidences):
        raise ValueError(f"classes and confidences must both be (N, T), got {classes.shape}, {np.shape(confidences)}")
    if classes.size and (classes.min() < 0 or classes.max() >= len(charset)):
        raise ValueError(f"class ids must lie in [0, {len(charset)}), the charset's size")
    keep = classes != 0
    keep[:, 1:] &= classes[:, 1:] != classes[:, :-1]
    results = []
    for row, row_confidences, mask in zip(classes, np.asarray(confidences, np.float32), keep):
        text = "".join(charset[c] for c in row[mask])
        score = float(row_confidences[mask].mean()) if mask.any() else 0.0
        results.append((text, score))
    return results
