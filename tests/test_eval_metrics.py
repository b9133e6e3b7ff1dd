"""Evaluation metrics on small hand-made cases whose answers are worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from triton_ocr.eval.datasets import GTLine
from triton_ocr.eval.metrics import (
    CERCounts,
    DetectionCounts,
    Region,
    WordCounts,
    alnum_lower,
    char_bag_counts,
    detection_counts,
    fold_case_and_spaces,
    fold_width_and_spaces,
    greedy_match,
    line_cer_counts,
    page_cer_counts,
    polygon_iou,
    reading_page_cer_counts,
    text_cer_counts,
    word_counts,
)


def box(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def test_iou_of_squares():
    assert polygon_iou(box(0, 0, 2, 2), box(1, 0, 3, 2)) == pytest.approx(2 / 6)  # overlap 2, union 6
    assert polygon_iou(box(0, 0, 4, 4), box(1, 1, 3, 3)) == pytest.approx(4 / 16)  # contained
    assert polygon_iou(box(0, 0, 2, 2), box(0, 0, 2, 2)) == pytest.approx(1.0)
    assert polygon_iou(box(0, 0, 2, 2), box(2, 0, 4, 2)) == 0.0  # touching edges only
    assert polygon_iou(box(0.5, 0.5, 1.5, 1.5), box(1.0, 0.5, 2.0, 1.5)) == pytest.approx(0.5 / 1.5)  # sub-pixel


def test_iou_ignores_point_order_and_handles_degenerate_polygons():
    clockwise = box(0, 0, 2, 2)
    assert polygon_iou(clockwise[::-1], box(1, 0, 3, 2)) == pytest.approx(2 / 6)
    assert polygon_iou(np.zeros((4, 2)), box(0, 0, 2, 2)) == 0.0
    assert polygon_iou(np.array([[0, 0], [5, 0], [9, 0], [2, 0]]), box(0, 0, 9, 9)) == 0.0


def test_self_intersecting_quad_area_uses_both_lobes():
    bow_tie = np.array([[0, 0], [10, 10], [10, 0], [0, 10]], dtype=np.float64)  # two triangles of 25 px²
    assert Region.of(bow_tie).area == pytest.approx(50.0)


def test_greedy_match_takes_highest_iou_first_one_to_one():
    iou = np.array([[0.6, 0.55], [0.8, 0.0]])
    assert sorted(greedy_match(iou)) == [(0, 1), (1, 0)]  # row 1 takes column 0, row 0 falls back to column 1
    assert greedy_match(np.array([[0.9, 0.7], [0.7, 0.2]])) == [(0, 0)]  # column 0 and row 0 are used once
    assert greedy_match(np.array([[0.5]])) == [(0, 0)]  # the threshold is inclusive
    assert greedy_match(np.array([[0.49]])) == []
    assert greedy_match(np.zeros((0, 3))) == []


def test_detection_counts_ignore_dont_care_regions():
    gt = [
        GTLine(box(0, 0, 10, 10), "a"),
        GTLine(box(20, 0, 30, 10), "b"),
        GTLine(box(50, 0, 60, 10), "###", ignore=True),
    ]
    preds = [
        box(0, 0, 10, 9),  # matches "a" (IoU 0.9)
        box(51, 1, 59, 9),  # inside the don't-care region: not scored
        box(45, 0, 55, 10),  # half inside it (not more): a false positive
        box(100, 0, 110, 10),  # false positive
    ]
    counts = detection_counts(gt, preds)
    assert counts == DetectionCounts(matched=1, gt=2, pred=3)
    assert counts.precision == pytest.approx(1 / 3)
    assert counts.recall == pytest.approx(1 / 2)
    assert counts.hmean == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))


def test_detection_counts_sum_over_images_before_ratios():
    total = sum([DetectionCounts(1, 2, 2), DetectionCounts(3, 3, 6)], DetectionCounts())
    assert total == DetectionCounts(4, 5, 8)
    assert (total.precision, total.recall) == (pytest.approx(4 / 8), pytest.approx(4 / 5))
    assert DetectionCounts().hmean == 0.0 and DetectionCounts().precision == 0.0


def test_cer_of_known_strings():
    assert text_cer_counts("kitten", "sitting") == CERCounts(edits=3, chars=6)
    assert text_cer_counts("abc", "") == CERCounts(3, 3)
    assert CERCounts(3, 12).cer == pytest.approx(0.25)
    assert CERCounts().cer == 0.0


def test_line_cer_counts_unmatched_gt_fully_and_extra_predictions_not_at_all():
    gt = [
        GTLine(box(0, 0, 30, 10), "abc"),
        GTLine(box(0, 20, 40, 30), "defg"),
        GTLine(box(0, 40, 20, 50), "zz", ignore=True),
    ]
    polys = [box(0, 0, 30, 11), box(0, 40, 20, 50), box(100, 100, 130, 110)]
    texts = ["abd", "zz", "extra"]
    assert line_cer_counts(gt, polys, texts) == CERCounts(edits=1 + 4, chars=3 + 4)


def test_line_cer_counts_normalize_both_sides():
    gt = [GTLine(box(0, 0, 30, 10), "需要物品：灰雾（0/1）")]
    assert line_cer_counts(gt, [box(0, 0, 30, 10)], ["需要物品:灰雾(0/1)"], fold_width_and_spaces) == CERCounts(0, 12)


def test_page_cer_joins_lines_in_reading_order():
    gt = [GTLine(None, "ab"), GTLine(None, "cd")]
    assert page_cer_counts(gt, ["abc", "d"]) == CERCounts(0, 4)
    assert page_cer_counts(gt, ["cd", "ab"]) == CERCounts(4, 4)  # "cdab" vs "abcd"


def test_text_normalisers():
    assert fold_width_and_spaces("奖励基数：0 当前进度：7/10　（第7轮）！") == "奖励基数:0当前进度:7/10(第7轮)!"
    assert fold_width_and_spaces("《》。、") == "《》。、"  # no ASCII counterpart: unchanged
    assert fold_case_and_spaces("Total (RM):  9.00") == "TOTAL(RM):9.00"
    assert alnum_lower("Hello, World-42!") == "helloworld42"
    assert alnum_lower("Café") == "caf"  # ASCII letters and digits only


def test_word_accuracy_protocols():
    assert word_counts("JOINT", "JOINT") == WordCounts(words=1, exact=1, alnum=1)
    hello = word_counts("Hello!", "hello")
    assert (hello.exact, hello.alnum) == (0, 1)
    wrong = word_counts("yourself", "yourseif")
    assert (wrong.exact, wrong.alnum) == (0, 0)
    total = sum([word_counts("A", "A"), hello, wrong], WordCounts())
    assert (total.words, total.exact, total.alnum) == (3, 1, 2)
    assert total.exact_accuracy == pytest.approx(1 / 3) and total.alnum_accuracy == pytest.approx(2 / 3)


def test_char_bag_f1_ignores_line_splits_and_dont_care_lines():
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], np.float32)
    far = square + 100
    gt = [GTLine(square, "ab c", False), GTLine(far, "zz", True)]
    split = char_bag_counts(gt, ["a", "bc"])  # one line read as two: no penalty
    assert (split.common, split.reference, split.predicted, split.f1) == (3, 3, 3, 1.0)
    wrong = char_bag_counts(gt, ["abx", "zz"], pred_polys=[square, far])  # "zz" lies on a don't-care line
    assert (wrong.common, wrong.reference, wrong.predicted) == (2, 3, 3)
    assert wrong.f1 == pytest.approx(2 / 3)
    assert char_bag_counts(gt, ["abx", "zz"]).predicted == 5  # without boxes the don't-care text counts


def test_reading_page_cer_orders_both_sides_by_their_boxes_and_forgives_splits():
    gt = [GTLine(box(0, 40, 50, 50), "cd"), GTLine(box(0, 0, 50, 10), "ab"), GTLine(box(0, 80, 50, 90), "zz", True)]
    # GT in file order "cd", "ab"; by boxes "ab" (top) then "cd"; "zz" is don't-care.
    halves = [box(26, 0, 50, 10), box(0, 0, 24, 10), box(0, 40, 50, 50), box(0, 80, 50, 90)]
    assert reading_page_cer_counts(gt, halves, ["b", "a", "cd", "zz"]) == CERCounts(0, 4)  # "a"+"b" left to right
    assert line_cer_counts(gt, halves, ["b", "a", "cd", "zz"]) == CERCounts(2, 4)  # the split line matches nothing
    merged = [box(0, 0, 50, 50)]
    assert reading_page_cer_counts(gt, merged, ["abcd"]) == CERCounts(0, 4)
    assert reading_page_cer_counts(gt, [], []) == CERCounts(4, 4)
