"""Accuracy metrics: detection P/R/Hmean (IC15 protocol), word accuracy, character error rate.

Each metric is a small frozen count record computed per image and summed over a set (``sum(counts, Counts())``),
so a set's score is micro-averaged: totals first, ratios last.
"""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import TypeVar

import numpy as np
import pyclipper
from rapidfuzz.distance import Levenshtein

from triton_ocr.eval.datasets import GTLine
from triton_ocr.steps.box_sorting import reading_order

IOU_THRESHOLD = 0.5
IGNORE_OVERLAP = 0.5  # a prediction covered more than this by a don't-care region is not scored
CLIPPER_SCALE = 1000  # pyclipper works on integers: coordinates are scaled to 1/1000 px

_ASCII_ALNUM = frozenset(string.ascii_lowercase + string.digits)
_FULL_WIDTH_TO_ASCII = {0xFF01 + i: 0x21 + i for i in range(94)} | {0x3000: 0x20}


_C = TypeVar("_C", bound="_Counts")


class _Counts:
    """Field-wise addition for the count records below."""

    def __add__(self: _C, other: _C) -> _C:
        return type(self)(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


# ---- polygons -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Region:
    """A polygon prepared for clipping: its simple integer ``paths`` (self-intersections resolved with the non-zero
    rule), ``area`` in px², and bounding box (x0, y0, x1, y1)."""

    paths: list
    area: float
    bbox: tuple[float, float, float, float]

    @classmethod
    def of(cls, poly: np.ndarray) -> Region:
        """``poly`` (N, 2) float, image pixels."""
        poly = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
        scaled = np.round(poly * CLIPPER_SCALE).astype(np.int64).tolist()
        paths = pyclipper.SimplifyPolygon(scaled, pyclipper.PFT_NONZERO)
        area = sum(pyclipper.Area(p) for p in paths) / CLIPPER_SCALE**2
        (x0, y0), (x1, y1) = poly.min(axis=0), poly.max(axis=0)
        return cls(paths, area, (x0, y0, x1, y1))

    def intersection(self, other: Region) -> float:
        """Area (px²) of the intersection."""
        a, b = self.bbox, other.bbox
        if self.area <= 0 or other.area <= 0 or a[0] >= b[2] or b[0] >= a[2] or a[1] >= b[3] or b[1] >= a[3]:
            return 0.0
        clipper = pyclipper.Pyclipper()
        clipper.AddPaths(self.paths, pyclipper.PT_SUBJECT, True)
        clipper.AddPaths(other.paths, pyclipper.PT_CLIP, True)
        parts = clipper.Execute(pyclipper.CT_INTERSECTION, pyclipper.PFT_NONZERO, pyclipper.PFT_NONZERO)
        return sum(pyclipper.Area(p) for p in parts) / CLIPPER_SCALE**2

    def iou(self, other: Region) -> float:
        inter = self.intersection(other)
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0


def polygon_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two polygons (N, 2) and (M, 2)."""
    return Region.of(a).iou(Region.of(b))


def iou_matrix(gts: Sequence[Region], preds: Sequence[Region]) -> np.ndarray:
    """IoU of every pair: float64 (len(gts), len(preds))."""
    return np.array([[g.iou(p) for p in preds] for g in gts], dtype=np.float64).reshape(len(gts), len(preds))


def greedy_match(iou: np.ndarray, threshold: float = IOU_THRESHOLD) -> list[tuple[int, int]]:
    """One-to-one matching of rows (GT) to columns (predictions): pairs are taken by decreasing IoU while both are
    free and IoU ≥ ``threshold``. Returns (gt index, prediction index) pairs."""
    rows, cols = np.nonzero(iou >= threshold)
    order = np.argsort(-iou[rows, cols], kind="stable")
    used_gt, used_pred, pairs = set(), set(), []
    for r, c in zip(rows[order].tolist(), cols[order].tolist()):
        if r not in used_gt and c not in used_pred:
            used_gt.add(r)
            used_pred.add(c)
            pairs.append((r, c))
    return pairs


# ---- detection ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DetectionCounts(_Counts):
    """``matched`` pairs, scored (not don't-care) GT lines ``gt`` and scored predictions ``pred``."""

    matched: int = 0
    gt: int = 0
    pred: int = 0

    @property
    def precision(self) -> float:
        return self.matched / self.pred if self.pred else 0.0

    @property
    def recall(self) -> float:
        return self.matched / self.gt if self.gt else 0.0

    @property
    def hmean(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def detection_counts(gt: Sequence[GTLine], preds: Sequence[np.ndarray]) -> DetectionCounts:
    """IC15 protocol for one image: don't-care GT lines are not scored, a prediction whose area lies more than half
    inside one don't-care region is not scored either, the rest are matched one-to-one at IoU ≥ 0.5.
    ``preds`` are polygons (N, 2) in image pixels."""
    care = [Region.of(line.poly) for line in gt if not line.ignore]
    dont_care = [Region.of(line.poly) for line in gt if line.ignore]
    scored = [
        region
        for region in map(Region.of, preds)
        if not any(region.intersection(d) > IGNORE_OVERLAP * region.area for d in dont_care)
    ]
    matched = len(greedy_match(iou_matrix(care, scored)))
    return DetectionCounts(matched, len(care), len(scored))


# ---- text -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CERCounts(_Counts):
    """Total edit distance ``edits`` over total reference length ``chars``."""

    edits: int = 0
    chars: int = 0

    @property
    def cer(self) -> float:
        return self.edits / self.chars if self.chars else 0.0


def text_cer_counts(reference: str, hypothesis: str) -> CERCounts:
    """Levenshtein distance (insertions, deletions, substitutions of characters) and reference length."""
    return CERCounts(Levenshtein.distance(reference, hypothesis), len(reference))


def line_cer_counts(
    gt: Sequence[GTLine],
    pred_polys: Sequence[np.ndarray],
    pred_texts: Sequence[str],
    normalize: Callable[[str], str] = str,
) -> CERCounts:
    """End-to-end CER of one image: predicted lines are matched one-to-one to GT lines at IoU ≥ 0.5; a matched
    pair counts its edit distance, an unmatched GT line its whole length, an unmatched prediction nothing.
    Don't-care GT lines are left out. Texts pass through ``normalize`` first."""
    care = [line for line in gt if not line.ignore]
    pairs = dict(greedy_match(iou_matrix([Region.of(g.poly) for g in care], [Region.of(p) for p in pred_polys])))
    total = CERCounts()
    for i, line in enumerate(care):
        hypothesis = normalize(pred_texts[pairs[i]]) if i in pairs else ""
        total += text_cer_counts(normalize(line.text), hypothesis)
    return total


def page_cer_counts(
    gt: Sequence[GTLine], pred_texts: Sequence[str], normalize: Callable[[str], str] = str
) -> CERCounts:
    """CER of the concatenated text: GT lines in reading order against predicted lines in reading order, both
    joined without separator after ``normalize``. For sets without boxes."""
    reference = "".join(normalize(line.text) for line in gt)
    return text_cer_counts(reference, "".join(normalize(text) for text in pred_texts))


def scored_predictions(
    gt: Sequence[GTLine], pred_texts: Sequence[str], pred_polys: Sequence[np.ndarray] | None = None
) -> list[tuple[int, str]]:
    """``(index, text)`` of the predicted lines that are scored: with ``pred_polys`` (each (4, 2)), those matching a
    don't-care GT line (IoU ≥ 0.5) are left out."""
    ignored = [line for line in gt if line.ignore]
    dropped: set[int] = set()
    if pred_polys is not None and ignored:
        pairs = greedy_match(iou_matrix([Region.of(g.poly) for g in ignored], [Region.of(p) for p in pred_polys]))
        dropped = {j for _, j in pairs}
    return [(j, text) for j, text in enumerate(pred_texts) if j not in dropped]


def _top_left_order(polys: Sequence[np.ndarray]) -> list[int]:
    """Reading order of polygons (each (N, 2)) by their bounding boxes' top-left corners (PaddleOCR's rule)."""
    if not polys:
        return []
    corners = np.array([[p.min(axis=0), p.max(axis=0)] for p in map(np.asarray, polys)], np.float64)  # (N, 2, 2)
    boxes = np.stack([corners[:, 0], corners[:, 0], corners[:, 1], corners[:, 1]], axis=1)  # (N, 4, 2)
    return [int(i) for i in reading_order(boxes)]


def reading_page_cer_counts(
    gt: Sequence[GTLine],
    pred_polys: Sequence[np.ndarray],
    pred_texts: Sequence[str],
    normalize: Callable[[str], str] = str,
) -> CERCounts:
    """Page CER of one image with boxes: the GT lines and the predicted lines, each put in reading order by their
    boxes (top to bottom, left to right within ``10`` px), joined without separator and compared as one string.
    A line split or merged costs nothing when its pieces stay in order. Don't-care GT lines and the predictions
    matching them are left out; texts pass through ``normalize``."""
    care = [line for line in gt if not line.ignore]
    reference = "".join(normalize(care[i].text) for i in _top_left_order([line.poly for line in care]))
    kept = scored_predictions(gt, pred_texts, pred_polys)
    order = _top_left_order([pred_polys[j] for j, _ in kept])
    return text_cer_counts(reference, "".join(normalize(kept[i][1]) for i in order))


@dataclass(frozen=True)
class CharBagCounts(_Counts):
    """Characters shared by the reference and the prediction of each image, counted as multisets (``common``),
    and both sides' totals: an F1 that does not punish line splits, merges or a different reading order."""

    common: int = 0
    reference: int = 0
    predicted: int = 0

    @property
    def f1(self) -> float:
        total = self.reference + self.predicted
        return 2 * self.common / total if total else 1.0


def char_bag_counts(
    gt: Sequence[GTLine],
    pred_texts: Sequence[str],
    normalize: Callable[[str], str] = str,
    pred_polys: Sequence[np.ndarray] | None = None,
) -> CharBagCounts:
    """:class:`CharBagCounts` of one image; whitespace does not count. Don't-care GT lines are left out, and with
    ``pred_polys`` so are the predicted lines that match one of them (IoU ≥ 0.5)."""
    care = [line for line in gt if not line.ignore]
    texts = [text for _, text in scored_predictions(gt, pred_texts, pred_polys)]
    reference = Counter("".join("".join(normalize(line.text).split()) for line in care))
    predicted = Counter("".join("".join(normalize(text).split()) for text in texts))
    return CharBagCounts(sum((reference & predicted).values()), sum(reference.values()), sum(predicted.values()))


def fold_width_and_spaces(text: str) -> str:
    """Full-width ASCII forms (``：（）！，`` …, ideographic space) → ASCII, then all whitespace removed: makes
    labels that mix full-width and ASCII punctuation comparable."""
    return "".join(text.translate(_FULL_WIDTH_TO_ASCII).split())


def fold_case_and_spaces(text: str) -> str:
    """Upper case, all whitespace removed: for labels transcribed in capitals with irregular spacing (SROIE)."""
    return "".join(text.upper().split())


# ---- word recognition -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WordCounts(_Counts):
    """``words`` scored, ``exact`` equal as given, ``alnum`` equal after :func:`alnum_lower`."""

    words: int = 0
    exact: int = 0
    alnum: int = 0

    @property
    def exact_accuracy(self) -> float:
        return self.exact / self.words if self.words else 0.0

    @property
    def alnum_accuracy(self) -> float:
        return self.alnum / self.words if self.words else 0.0


def alnum_lower(text: str) -> str:
    """The usual scene-text protocol: lower case, ASCII letters and digits only."""
    return "".join(ch for ch in text.lower() if ch in _ASCII_ALNUM)


def word_counts(reference: str, prediction: str) -> WordCounts:
    """One word under both protocols: exact match, and case-insensitive alphanumeric-only match."""
    alnum_equal = alnum_lower(prediction) == alnum_lower(reference)
    return WordCounts(1, int(prediction == reference), int(alnum_equal))
