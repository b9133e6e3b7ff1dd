"""Step 4: the detector's probability map → text quadrilaterals in original-image pixels (DB post-processing)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import pyclipper

from triton_ocr.config import DetConfig

MIN_BOX_SIDE = 3


@dataclass(frozen=True)
class DetectedBoxes:
    """Quadrilaterals (N, 4, 2) float32, clockwise from top-left, in original-image pixels; scores (N,) float32."""

    boxes: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def empty(cls) -> DetectedBoxes:
        return cls(np.zeros((0, 4, 2), np.float32), np.zeros((0,), np.float32))


def db_postprocess(prob_map: np.ndarray, image_hw: tuple[int, int], cfg: DetConfig) -> DetectedBoxes:
    """Binarise ``prob_map`` (h, w) float32, find text regions, expand them and map them to ``image_hw``.

    Boxes whose mean probability is below ``cfg.box_thresh`` or whose short side is under 3 px are dropped;
    at most ``cfg.max_candidates`` contours are considered.
    """
    if prob_map.ndim != 2:
        raise ValueError(f"prob_map must be (h, w), got {prob_map.shape}")
    mask = (prob_map > cfg.thresh).astype(np.uint8)
    if cfg.use_dilation:
        mask = cv2.dilate(mask, np.ones((2, 2), np.uint8))
    map_h, map_w = prob_map.shape
    dest_h, dest_w = image_hw
    contours, _ = cv2.findContours(mask * 255, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)

    boxes, scores = [], []
    for contour in contours[: cfg.max_candidates]:
        points, short_side = min_area_quad(contour)
        if short_side < MIN_BOX_SIDE:
            continue
        score = box_score_fast(prob_map, points) if cfg.score_mode == "fast" else box_score_slow(prob_map, contour)
        if score < cfg.box_thresh:
            continue
        expanded = unclip(points, cfg.unclip_ratio)
        if expanded is None:
            continue
        box, short_side = min_area_quad(expanded)
        if short_side < MIN_BOX_SIDE + 2:
            continue
        boxes.append(box)
        scores.append(score)
    if not boxes:
        return DetectedBoxes.empty()
    quads = np.stack(boxes)  # float32 (N, 4, 2) in map pixels → whole image pixels
    quads[..., 0] = np.clip(np.round(quads[..., 0] / map_w * dest_w), 0, dest_w)
    quads[..., 1] = np.clip(np.round(quads[..., 1] / map_h * dest_h), 0, dest_h)
    return filter_small_boxes(quads.astype(np.int32).astype(np.float32), np.array(scores, np.float32), image_hw)


def min_area_quad(contour: np.ndarray) -> tuple[np.ndarray, float]:
    """Minimum-area rectangle of ``contour`` as a (4, 2) float32 quad ordered tl, tr, br, bl, and its short side."""
    rect = cv2.minAreaRect(contour.reshape(-1, 1, 2).astype(np.float32))
    points = sorted(cv2.boxPoints(rect).tolist(), key=lambda p: p[0])
    left = (points[0], points[1]) if points[1][1] > points[0][1] else (points[1], points[0])
    right = (points[2], points[3]) if points[3][1] > points[2][1] else (points[3], points[2])
    quad = np.array([left[0], right[0], right[1], left[1]], dtype=np.float32)
    return quad, min(rect[1])


def box_score_fast(prob_map: np.ndarray, quad: np.ndarray) -> float:
    """Mean probability inside ``quad`` (4, 2), computed on its bounding window."""
    h, w = prob_map.shape
    (left, top), (right, bottom) = quad.min(axis=0).tolist(), quad.max(axis=0).tolist()
    xmin, xmax = min(max(math.floor(left), 0), w - 1), min(max(math.ceil(right), 0), w - 1)
    ymin, ymax = min(max(math.floor(top), 0), h - 1), min(max(math.ceil(bottom), 0), h - 1)
    mask = np.zeros((ymax - ymin + 1, xmax - xmin + 1), dtype=np.uint8)
    shifted = (quad - np.array([xmin, ymin], np.float32)).astype(np.int32)
    cv2.fillPoly(mask, shifted.reshape(1, -1, 2), 1)
    return float(cv2.mean(prob_map[ymin : ymax + 1, xmin : xmax + 1], mask)[0])


def box_score_slow(prob_map: np.ndarray, contour: np.ndarray) -> float:
    """Mean probability inside the contour polygon itself."""
    return box_score_fast(prob_map, contour.reshape(-1, 2).astype(np.float32))


def unclip(quad: np.ndarray, unclip_ratio: float) -> np.ndarray | None:
    """Grow ``quad`` by ``area * ratio / perimeter`` (the DB paper's offset) with rounded joins."""
    area = cv2.contourArea(quad)
    perimeter = cv2.arcLength(quad.reshape(-1, 1, 2), True)
    if perimeter == 0:
        return None
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(quad.tolist(), pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    paths = offset.Execute(area * unclip_ratio / perimeter)
    if len(paths) != 1:
        return None
    return np.array(paths[0], dtype=np.float32)


def filter_small_boxes(boxes: np.ndarray, scores: np.ndarray, image_hw: tuple[int, int]) -> DetectedBoxes:
    """Order each quad (N, 4, 2) clockwise, clip it into the image and drop quads thinner than 4 px."""
    height, width = image_hw
    boxes = order_clockwise(boxes)
    boxes[..., 0] = np.clip(boxes[..., 0], 0, width - 1)
    boxes[..., 1] = np.clip(boxes[..., 1], 0, height - 1)
    box_w = np.linalg.norm(boxes[:, 0] - boxes[:, 1], axis=-1).astype(np.int64)
    box_h = np.linalg.norm(boxes[:, 0] - boxes[:, 3], axis=-1).astype(np.int64)
    keep = (box_w > MIN_BOX_SIDE) & (box_h > MIN_BOX_SIDE)
    if not keep.any():
        return DetectedBoxes.empty()
    return DetectedBoxes(boxes[keep], scores[keep].astype(np.float32))


def order_clockwise(points: np.ndarray) -> np.ndarray:
    """(..., 4, 2) points → each quad as tl, tr, br, bl: the two leftmost (by x) on the left, each side's two
    ordered by y (ties keep their order)."""
    points = np.asarray(points, np.float32)
    by_x = sort_points(points, 0)
    left, right = sort_points(by_x[..., :2, :], 1), sort_points(by_x[..., 2:, :], 1)
    return np.stack([left[..., 0, :], right[..., 0, :], right[..., 1, :], left[..., 1, :]], axis=-2)


def sort_points(points: np.ndarray, axis: int) -> np.ndarray:
    """(..., k, 2) points in each group sorted by coordinate ``axis`` (0: x, 1: y), stable."""
    order = np.argsort(points[..., axis], axis=-1, kind="stable")
    return np.take_along_axis(points, order[..., None], axis=-2)
