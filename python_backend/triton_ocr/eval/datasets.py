"""Loaders of the labelled development sets in ``../shared/data`` (see its README for the formats).

Each loader takes the data root and returns a :class:`Dataset`: image paths with their ground-truth lines. Images
are not decoded here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from triton_ocr.errors import ConfigError
from triton_ocr.inputs import IMAGE_SUFFIXES

DEFAULT_DATA_ROOT = Path("../shared/data")
DONT_CARE = "###"


@dataclass(frozen=True)
class GTLine:
    """One labelled line: ``poly`` float64 (N, 2) in image pixels (``None`` when the set has no boxes), its text,
    and ``ignore`` for don't-care regions (IC15 ``###``, PPOCRLabel ``difficult``, FUNSD segments without text)."""

    poly: np.ndarray | None
    text: str
    ignore: bool = False


@dataclass(frozen=True)
class Sample:
    """An image file and its ground-truth lines (in reading order where the set gives one)."""

    image: Path
    lines: tuple[GTLine, ...]


@dataclass(frozen=True)
class Dataset:
    name: str
    samples: list[Sample]

    def __len__(self) -> int:
        return len(self.samples)


def _quad(values: list[str] | list[float]) -> np.ndarray:
    """``x1,y1,…,x4,y4`` → float64 (4, 2)."""
    return np.asarray(values, dtype=np.float64).reshape(4, 2)


def _csv_quad_lines(path: Path) -> tuple[GTLine, ...]:
    """``x1,y1,x2,y2,x3,y3,x4,y4,text`` per line, split at the first 8 commas only (texts contain commas)."""
    lines = []
    for row in path.read_text(encoding="utf-8-sig").splitlines():
        if not row.strip():
            continue
        *coords, text = row.split(",", 8)
        lines.append(GTLine(_quad(coords), text, ignore=text == DONT_CARE))
    return tuple(lines)


def load_icdar2015_blurred(root: Path) -> Dataset:
    """250 scenes: ``images/img_N.jpg`` with ``gt/gt_img_N.txt``."""
    folder = root / "icdar2015_blurred"
    gt_files = sorted((folder / "gt").glob("gt_img_*.txt"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    samples = [Sample(folder / "images" / f"{gt.stem.removeprefix('gt_')}.jpg", _csv_quad_lines(gt)) for gt in gt_files]
    return Dataset("icdar2015_blurred", samples)


def load_sroie_receipts(root: Path) -> Dataset:
    """32 receipts: ``img/NNN.jpg`` with ``box/NNN.csv``."""
    folder = root / "sroie_receipts"
    boxes = sorted((folder / "box").glob("*.csv"))
    samples = [Sample(folder / "img" / f"{box.stem}.jpg", _csv_quad_lines(box)) for box in boxes]
    return Dataset("sroie_receipts", samples)


def _funsd_lines(path: Path) -> tuple[GTLine, ...]:
    lines = []
    for segment in json.loads(path.read_text(encoding="utf-8"))["form"]:
        x0, y0, x1, y1 = segment["box"]
        text = segment["text"].strip()
        lines.append(GTLine(_quad([x0, y0, x1, y0, x1, y1, x0, y1]), text, ignore=not text))
    return tuple(lines)


def load_funsd(root: Path) -> Dataset:
    """25 forms: ``images/<id>.png`` with the segments (``form[]`` box + text) of ``annotations/<id>.json``."""
    folder = root / "funsd"
    samples = [
        Sample(folder / "images" / f"{ann.stem}.png", _funsd_lines(ann))
        for ann in sorted((folder / "annotations").glob("*.json"))
    ]
    return Dataset("funsd", samples)


def load_cn_game_ui(root: Path) -> Dataset:
    """276 screenshots from ``label.txt`` (PPOCRLabel: ``images/<name><TAB>[{transcription, points, difficult}]``)."""
    folder = root / "cn_game_ui"
    samples = []
    for row in (folder / "label.txt").read_text(encoding="utf-8-sig").splitlines():
        if not row.strip():
            continue
        image, labels = row.split("\t", 1)
        lines = tuple(
            GTLine(
                np.asarray(label["points"], dtype=np.float64),
                label["transcription"],
                ignore=bool(label.get("difficult")) or label["transcription"] == DONT_CARE,
            )
            for label in json.loads(labels)
        )
        samples.append(Sample(folder / image, lines))
    return Dataset("cn_game_ui", samples)


def load_cnocr_examples(root: Path) -> Dataset:
    """The 22 labelled images of ``labels.json`` (``labels[]`` of ``{image, lines}``); lines have no boxes."""
    folder = root / "cnocr_examples"
    labels = json.loads((folder / "labels.json").read_text(encoding="utf-8"))["labels"]
    samples = [Sample(folder / item["image"], tuple(GTLine(None, text) for text in item["lines"])) for item in labels]
    return Dataset("cnocr_examples", samples)


def load_icdar2015_words(root: Path) -> Dataset:
    """2077 word crops from ``rec_gt_test.txt`` (``test/word_N.png<TAB>label``); one box-less line each."""
    folder = root / "icdar2015_words"
    samples = []
    for row in (folder / "rec_gt_test.txt").read_text(encoding="utf-8-sig").splitlines():
        if row.strip():
            image, label = row.split("\t", 1)
            samples.append(Sample(folder / image, (GTLine(None, label),)))
    return Dataset("icdar2015_words", samples)


def load_photos_docs(root: Path) -> Dataset:
    """Unlabelled photos and documents (every image under ``photos_docs/``): for speed only."""
    folder = root / "photos_docs"
    images = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    return Dataset("photos_docs", [Sample(path, ()) for path in images])


LOADERS: dict[str, Callable[[Path], Dataset]] = {
    "icdar2015_blurred": load_icdar2015_blurred,
    "sroie_receipts": load_sroie_receipts,
    "funsd": load_funsd,
    "cn_game_ui": load_cn_game_ui,
    "cnocr_examples": load_cnocr_examples,
    "icdar2015_words": load_icdar2015_words,
    "photos_docs": load_photos_docs,
}


def load_dataset(name: str, root: Path = DEFAULT_DATA_ROOT) -> Dataset:
    """Load the set ``name`` (a key of :data:`LOADERS`) from the data root."""
    if name not in LOADERS:
        raise ConfigError(f"unknown dataset {name!r}; known: {', '.join(LOADERS)}")
    if not (root / name).is_dir():
        raise ConfigError(f"dataset folder {root / name} not found (give the data root with --data)")
    return LOADERS[name](root)
