"""The pipeline's stages composed from the steps, and the one orchestration of everything after detection.

Data flow: image → [optional, ``use_doc_orientation_classify``: :func:`page_input` → page classifier →
:func:`upright_page`] → :func:`det_input` → detector → :func:`read_lines`: :func:`boxes_from_prob_map` →
:func:`line_crops` → [optional, ``use_textline_orientation``: :func:`orientation_batches` → classifier →
:func:`upright_crops`] → :func:`plan_rec_chunks` → :func:`costliest_first` → per chunk :func:`chunk_tensor` →
recogniser (best path inside) → :func:`decode_batches` → :func:`confident_lines` (with ``return_word_box``:
:func:`words_of_lines` from the same best paths) [→ :func:`lines_in_original` after a turned page].

:func:`read_lines` is a coroutine over :class:`LineModels` — the recogniser and the classifier as async callables —
so that the Triton python model awaits BLS calls with several in flight while the in-process pipeline drives the
same code synchronously over its local models (:func:`run_sync`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np

from triton_ocr.config import DetConfig, DocOrientationConfig, OCRConfig, RecConfig, TextlineOrientationConfig
from triton_ocr.errors import ConfigError
from triton_ocr.steps.box_sorting import reading_order
from triton_ocr.steps.ctc_decode import best_path, ctc_collapse
from triton_ocr.steps.db_postprocess import DetectedBoxes, db_postprocess
from triton_ocr.steps.det_resize import resize_for_det
from triton_ocr.steps.doc_orientation import doc_orientation_input, page_angle, points_to_original, turn_page
from triton_ocr.steps.line_crop import LineCrops, crop_lines, crop_shapes
from triton_ocr.steps.rec_batching import (
    RecBatch,
    RecChunk,
    chunk_batch,
    costliest_first,
    plan_rec_batches,
    plan_rec_chunks,
    resized_width,
)
from triton_ocr.steps.textline_orientation import orientation_batches, upright_crops
from triton_ocr.steps.word_boxes import line_words

__all__ = [
    "LineModels",
    "ModelCall",
    "OCRLines",
    "RecBatch",
    "boxes_from_prob_map",
    "best_path",
    "confident_lines",
    "decode_batches",
    "det_input",
    "line_crops",
    "lines_in_original",
    "orientation_batches",
    "page_input",
    "plan_rec_batches",
    "read_crops",
    "read_lines",
    "run_sync",
    "turn_upright",
    "upright_crops",
    "upright_page",
    "words_of_lines",
]

T = TypeVar("T")
I = TypeVar("I")
P = TypeVar("P")
R = TypeVar("R")

ModelCall = Callable[[np.ndarray], Awaitable[list[np.ndarray]]]
"""Runs a model on a batch and returns its outputs: the recogniser float32 (n, 3, H, W) → [classes (n, T),
their probabilities (n, T)] (its best path); the angle classifier float32 (n, 3, H, W) → [probabilities of 0° and
180° (n, 2)]."""


@dataclass(frozen=True)
class LineWords:
    """One line's words in reading order and their polygons float32 (k, 4, 2) in image pixels (tl, tr, br, bl)."""

    texts: list[str]
    polys: np.ndarray


@dataclass(frozen=True)
class OCRLines:
    """Recognised lines in reading order: polygons (N, 4, 2) float32 in image pixels, their detection scores (N,),
    texts (N) and recognition scores (N,)."""

    polys: np.ndarray
    det_scores: np.ndarray
    texts: list[str]
    rec_scores: np.ndarray
    angles: np.ndarray | None = None
    """int (N,): 1 where the text-line classifier turned the line by 180°, 0 where not; ``None``: not run."""
    words: list[LineWords] | None = None
    """Each line's words and their polygons (``return_word_box``); ``None``: not asked for."""
    doc_angle: int | None = None
    """The page's angle (0, 90, 180 or 270°) found by the document orientation classifier; ``None``: not run."""

    def __len__(self) -> int:
        return len(self.texts)


def det_input(image: np.ndarray, cfg: DetConfig) -> np.ndarray:
    """BGR uint8 (H, W, 3) → the detector's input, uint8 (1, h, w, 3): the image resized for detection (the
    detector normalises it in its graph, :mod:`triton_ocr.models.pixel_input`)."""
    return resize_for_det(image, cfg)[None]


def page_input(image: np.ndarray, cfg: DocOrientationConfig) -> np.ndarray:
    """BGR uint8 (H, W, 3) → the document orientation classifier's input float32 (1, 3, crop, crop)."""
    return doc_orientation_input(image, cfg.resize_short, cfg.crop_size)


def upright_page(image: np.ndarray, probs: np.ndarray, cfg: DocOrientationConfig) -> tuple[np.ndarray, int]:
    """BGR (H, W, 3) and the classifier's softmax (1, 4) → (the page turned upright, its angle in degrees)."""
    angle = page_angle(probs, cfg.score_thresh)
    return turn_page(image, angle), angle


def lines_in_original(lines: OCRLines, angle: int, original_hw: tuple[int, int]) -> OCRLines:
    """Lines read on the page turned upright by ``angle`` → the same lines with polygons (line and word) in the
    original image's pixels, and ``doc_angle`` set."""
    words = lines.words
    if words is not None:
        words = [replace(w, polys=points_to_original(w.polys, angle, original_hw)) for w in words]
    polys = points_to_original(lines.polys, angle, original_hw).reshape(-1, 4, 2)
    return replace(lines, polys=polys, words=words, doc_angle=angle)


def boxes_from_prob_map(prob_map: np.ndarray, image_hw: tuple[int, int], cfg: DetConfig) -> DetectedBoxes:
    """Detector output (1, 1, h, w) or (h, w) → boxes in reading order, in original-image pixels."""
    found = db_postprocess(np.asarray(prob_map, np.float32).reshape(prob_map.shape[-2:]), image_hw, cfg)
    order = reading_order(found.boxes, cfg.line_tolerance)
    return DetectedBoxes(found.boxes[order], found.scores[order])


def line_crops(image: np.ndarray, boxes: DetectedBoxes, max_pixels: int | None = None) -> LineCrops:
    """One upright BGR crop per box (each cut when first read), all of them within ``max_pixels``
    (``text_rec.max_crop_pixels``)."""
    return crop_lines(image, boxes.boxes, max_pixels)


def decode_batches(
    batches: Sequence[RecBatch], paths: Sequence[tuple[np.ndarray, np.ndarray]], charset: Sequence[str], count: int
) -> list[tuple[str, float]]:
    """Each batch's best path — (classes, probabilities), both (n, T): :func:`best_path` of the recogniser's
    output, or the Triton recogniser's two outputs — → ``count`` (text, score) pairs in the crops' order."""
    results: list[tuple[str, float]] = [("", 0.0)] * count
    for batch, (classes, confidences) in zip(batches, paths, strict=True):
        for index, decoded in zip(batch.indices, ctc_collapse(classes, confidences, charset), strict=True):
            results[int(index)] = decoded
    return results


def words_of_lines(
    batches: Sequence[RecBatch],
    paths: Sequence[tuple[np.ndarray, np.ndarray]],
    crops: Sequence[np.ndarray],
    quads: np.ndarray,
    charset: Sequence[str],
    upside_down: np.ndarray | None = None,
) -> list[LineWords]:
    """Each crop's words and their polygons in image pixels (:func:`~triton_ocr.steps.word_boxes.line_words`),
    from the best paths :func:`decode_batches` decodes: ``quads`` float (N, 4, 2) the crops' line polygons,
    ``upside_down`` int (N,) 1 where the classifier turned the crop (``None``: not run); in the crops' order."""
    words = [LineWords([], np.zeros((0, 4, 2), np.float32))] * len(crops)
    for batch, (classes, _) in zip(batches, paths, strict=True):
        height, width = batch.tensor.shape[-2:]
        for index, row in zip(batch.indices, np.asarray(classes), strict=True):
            crop_hw = crops[index].shape[:2]
            steps = row.shape[-1] * resized_width(crop_hw, height, width) / width
            turned = bool(upside_down is not None and upside_down[index])
            texts, polys = line_words(row, charset, steps, quads[index], crop_hw, turned)
            words[int(index)] = LineWords(texts, polys)
    return words


def confident_lines(
    boxes: DetectedBoxes,
    recognised: Sequence[tuple[str, float]],
    cfg: RecConfig,
    angles: np.ndarray | None = None,
    words: Sequence[LineWords] | None = None,
) -> OCRLines:
    """Keep the lines whose recognition score reaches ``cfg.score_thresh`` and whose text is not empty;
    ``angles`` (N,): the classifier's decision per box, when it ran; ``words``: each box's words, when asked."""
    keep = [i for i, (text, score) in enumerate(recognised) if text and score >= cfg.score_thresh]
    return OCRLines(
        polys=boxes.boxes[keep] if keep else np.zeros((0, 4, 2), np.float32),
        det_scores=boxes.scores[keep] if keep else np.zeros((0,), np.float32),
        texts=[recognised[i][0] for i in keep],
        rec_scores=np.array([recognised[i][1] for i in keep], dtype=np.float32),
        angles=None if angles is None else np.asarray(angles, np.int64)[keep],
        words=None if words is None else [words[i] for i in keep],
    )


@dataclass(frozen=True)
class LineModels:
    """What :func:`read_lines` calls: the recogniser, its CTC charset, the angle classifier (``None`` when the
    pipeline has none) and how many model calls of one image may be in flight at once."""

    recognise: ModelCall
    charset: Sequence[str]
    classify: ModelCall | None = None
    max_inflight: int = 1


async def call_all(
    call: Callable[[P], Awaitable[R]],
    items: Iterable[I],
    max_inflight: int,
    prepare: Callable[[I], P] | None = None,
) -> list[R]:
    """``call`` on every item, at most ``max_inflight`` at a time; outputs in the items' order. With ``prepare``,
    ``call`` gets ``prepare(item)``, made while the item waits for its turn: the inputs of later calls are built
    while earlier calls run."""
    slots = asyncio.Semaphore(max_inflight)

    async def one(item: I) -> R:
        argument = prepare(item) if prepare is not None else item
        async with slots:
            return await call(argument)

    return list(await asyncio.gather(*(one(item) for item in items)))


async def turn_upright(
    crops: list[np.ndarray], cfg: TextlineOrientationConfig, models: LineModels
) -> list[np.ndarray]:
    """BGR line crops → the same crops, those the angle classifier finds upside down turned by 180°."""
    if models.classify is None:
        raise ConfigError(f"use_textline_orientation: the text-line classifier ({cfg.model}) is not installed "
                          f"where this runs: run `triton-ocr models fetch {cfg.model}` (and restart a server)")
    if not crops:
        return crops
    outputs = await call_all(models.classify, orientation_batches(crops, cfg), models.max_inflight)
    return upright_crops(crops, np.concatenate([probs for probs, in outputs]), cfg)


async def recognise_crops(
    crops: Sequence[np.ndarray], cfg: RecConfig, models: LineModels
) -> tuple[list[RecBatch], list[list[np.ndarray]]]:
    """Upright BGR line crops → their width-sorted batches of ``cfg.batch_size``, costliest first, and each batch's
    best path (classes, probabilities), both (n, T). Chunks are planned from the crops' shapes; each chunk's input
    is built (and the lines of :class:`~triton_ocr.steps.line_crop.LineCrops` cut) just before its call, so that
    cutting and building the later chunks overlap the recogniser's runs of the earlier ones (at most
    ``models.max_inflight``)."""

    async def recognise(batch: RecBatch) -> tuple[RecBatch, list[np.ndarray]]:
        return batch, await models.recognise(batch.tensor)

    def prepare(chunk: RecChunk) -> RecBatch:
        return chunk_batch(crops, chunk, cfg)

    chunks = costliest_first(plan_rec_chunks(crop_shapes(crops), cfg))
    done = await call_all(recognise, chunks, models.max_inflight, prepare)
    return [batch for batch, _ in done], [path for _, path in done]


async def read_crops(crops: Sequence[np.ndarray], cfg: RecConfig, models: LineModels) -> list[tuple[str, float]]:
    """Upright BGR line crops → (text, score) each, in the crops' order (no score filter)."""
    batches, paths = await recognise_crops(crops, cfg, models)
    return decode_batches(batches, paths, models.charset, len(crops))


async def read_lines(image: np.ndarray, prob_map: np.ndarray, cfg: OCRConfig, models: LineModels) -> OCRLines:
    """Everything after detection: BGR uint8 (H, W, 3) and the detector's output for it (1, 1, h, w) → the
    confident lines in reading order."""
    boxes = boxes_from_prob_map(prob_map, image.shape[:2], cfg.text_det)
    crops = line_crops(image, boxes, cfg.text_rec.max_crop_pixels)
    angles = None
    if cfg.use_textline_orientation:
        turned = await turn_upright(crops, cfg.textline_orientation, models)
        angles = np.array([int(new is not old) for new, old in zip(turned, crops, strict=True)], np.int64)
        crops = turned  # upright_crops returns a crop it leaves alone as the same object, a turned one as a copy
    batches, paths = await recognise_crops(crops, cfg.text_rec, models)
    recognised = decode_batches(batches, paths, models.charset, len(crops))
    words = None
    if cfg.return_word_box:
        words = words_of_lines(batches, paths, crops, boxes.boxes, models.charset, angles)
    return confident_lines(boxes, recognised, cfg.text_rec, angles, words)


_loops = threading.local()
_foreign = ThreadPoolExecutor(1, thread_name_prefix="ocr-sync")


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion from synchronous code: on this thread's own event loop, or — when this
    thread already runs one (a notebook, an async server calling the sync API) — on a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        loop = getattr(_loops, "loop", None)
        if loop is None:
            loop = _loops.loop = asyncio.new_event_loop()
        return loop.run_until_complete(coroutine)
    return _foreign.submit(run_sync, coroutine).result()
