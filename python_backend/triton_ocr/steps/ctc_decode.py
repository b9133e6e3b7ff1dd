"""Step 8: recognition output → text and confidence (CTC greedy decoding)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BLANK = "blank"


def ctc_charset(characters: Sequence[str]) -> list[str]:
    """The model's class list: CTC blank first, then ``characters``, then the space PP-OCR appends."""
    return [BLANK, *characters, " "]


def ctc_greedy_decode(probs: np.ndarray, charset: Sequence[str]) -> list[tuple[str, float]]:
    """float32 (N, T, C) per-step class probabilities → N pairs (text, mean probability of the kept steps).

    Repeated classes collapse and blanks drop; a line with no character scores 0.
    """
    if probs.ndim != 3 or probs.shape[2] != len(charset):
        raise ValueError(f"probs must be (N, T, {len(charset)}), got {probs.shape}")
    best = probs.argmax(axis=2)
    best_prob = probs.max(axis=2)
    keep = best != 0
    keep[:, 1:] &= best[:, 1:] != best[:, :-1]
    results = []
    for classes, confidences, mask in zip(best, best_prob, keep):
        text = "".join(charset[c] for c in classes[mask])
        score = float(confidences[mask].mean()) if mask.any() else 0.0
        results.append((text, score))
    return results
