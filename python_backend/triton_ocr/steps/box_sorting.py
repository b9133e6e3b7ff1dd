"""Step 5: reading order — top to bottom, and left to right among boxes on one line."""

from __future__ import annotations

import numpy as np


def reading_order(boxes: np.ndarray, line_tolerance: float = 10.0) -> np.ndarray:
    """Indices that put ``boxes`` (N, 4, 2) into reading order.

    Boxes are sorted by the top-left corner (y, then x); then a box whose top lies within ``line_tolerance`` px of
    its predecessor's and which starts further left moves before it (PaddleOCR's ``sorted_boxes`` rule).
    """
    if len(boxes) == 0:
        return np.zeros((0,), dtype=np.int64)
    tops = boxes[:, 0, :]
    order = list(np.lexsort((tops[:, 0], tops[:, 1])))
    for i in range(len(order) - 1):
        for j in range(i, -1, -1):
            a, b = tops[order[j]], tops[order[j + 1]]
            if abs(b[1] - a[1]) < line_tolerance and b[0] < a[0]:
                order[j], order[j + 1] = order[j + 1], order[j]
            else:
                break
    return np.array(order, dtype=np.int64)
