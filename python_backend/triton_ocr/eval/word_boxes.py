"""How well ``return_word_box``'s word boxes fit FUNSD's labelled word boxes.

Protocol: a predicted line counts when it is read correctly: the FUNSD words whose box centres fall inside the
line's box, in left-to-right order, are exactly the line's words (same texts, same split). Each of its words is
then scored by the IoU of its box (``text_word_boxes``) with the same-position FUNSD word's box. The figure is the
share of those words with IoU ≥ 0.5. Lines read wrongly, or split differently from FUNSD's labels (``Fax:614-`` where
FUNSD has ``Fax:``, ``614``, ``-466``), are left out and counted apart.

``python -m triton_ocr.eval.word_boxes [--data ../shared/data] [--limit N]`` prints the figure.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from triton_ocr.eval.datasets import DEFAULT_DATA_ROOT

IOU_HIT = 0.5


@dataclass(frozen=True)
class LabelledWord:
    text: str
    box: np.ndarray
    """float64 (4,): x0, y0, x1, y1."""


@dataclass
class WordBoxScore:
    """Totals over the scored pages: lines seen and read correctly, and the IoU of each scored word."""

    lines: int = 0
    lines_correct: int = 0
    ious: list[float] = field(default_factory=list)

    @property
    def hit_rate(self) -> float:
        """Share of scored words with IoU ≥ 0.5."""
        return float(np.mean(np.asarray(self.ious) >= IOU_HIT)) if self.ious else 0.0

    def summary(self) -> str:
        median = float(np.median(self.ious)) if self.ious else 0.0
        return (
            f"FUNSD word boxes: {self.hit_rate:.1%} of {len(self.ious)} words with IoU >= {IOU_HIT} (median IoU "
            f"{median:.2f}), in {self.lines_correct} of {self.lines} lines read with FUNSD's words"
        )


def funsd_words(annotation: Path) -> list[LabelledWord]:
    """Every non-empty labelled word of a FUNSD annotation file."""
    segments = json.loads(annotation.read_text(encoding="utf-8"))["form"]
    return [
        LabelledWord(word["text"], np.asarray(word["box"], np.float64))
        for segment in segments
        for word in segment["words"]
        if word["text"].strip()
    ]


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two axis-aligned boxes (x0, y0, x1, y1)."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(width, 0.0) * max(height, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def labelled_words_in(line_box: np.ndarray, labelled: Iterable[LabelledWord]) -> list[LabelledWord]:
    """The labelled words whose centres fall inside ``line_box`` (x0, y0, x1, y1), left to right."""
    inside = [
        word for word in labelled
        if line_box[0] <= (word.box[0] + word.box[2]) / 2 <= line_box[2]
        and line_box[1] <= (word.box[1] + word.box[3]) / 2 <= line_box[3]
    ]
    return sorted(inside, key=lambda word: word.box[0])


def score_line(
    words: Sequence[str], boxes: np.ndarray, line_box: np.ndarray, labelled: Sequence[LabelledWord]
) -> list[float] | None:
    """The IoU of each predicted word box (int (k, 4)) with its labelled word, or ``None`` when the line's words
    are not exactly the labelled words inside ``line_box``."""
    expected = labelled_words_in(line_box, labelled)
    if [word.text for word in expected] != list(words):
        return None
    return [box_iou(np.asarray(box, np.float64), word.box) for box, word in zip(boxes, expected, strict=True)]


def score_page(result: dict, labelled: Sequence[LabelledWord], total: WordBoxScore) -> None:
    """Add one page's result (with ``return_word_box``) to ``total``."""
    for words, boxes, line_box in zip(result["text_word"], result["text_word_boxes"], result["rec_boxes"], strict=True):
        total.lines += 1
        ious = score_line(words, boxes, np.asarray(line_box, np.float64), labelled)
        if ious is not None:
            total.lines_correct += 1
            total.ious.extend(ious)


def measure(pipeline: object, data_root: Path = DEFAULT_DATA_ROOT, limit: int | None = None) -> WordBoxScore:
    """Run ``pipeline`` (``predict(path, return_word_box=True)``) on FUNSD's forms and score its word boxes."""
    folder = data_root / "funsd"
    annotations = sorted((folder / "annotations").glob("*.json"))[:limit]
    total = WordBoxScore()
    for annotation in annotations:
        image = folder / "images" / f"{annotation.stem}.png"
        for result in pipeline.predict(str(image), return_word_box=True):  # type: ignore[attr-defined]
            score_page(result, funsd_words(annotation), total)
    return total


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_ROOT, help="the data root holding funsd/")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N forms")
    args = parser.parse_args(argv)
    from triton_ocr import create_pipeline

    print(measure(create_pipeline("OCR"), args.data, args.limit).summary())


if __name__ == "__main__":
    main()
