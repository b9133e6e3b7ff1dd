"""Run an OCR engine over a dataset: the set's accuracy metrics and the engine's speed.

Engines: ``ours`` (the in-process :class:`~triton_ocr.pipeline.OCRPipeline`) and ``rapidocr`` (RapidOCR with the
same parameters, :class:`~triton_ocr.eval.rapidocr_reference.RapidOCRReference`). Both take decoded BGR images; on
the word-crop set only their recogniser runs, on the whole crop as one line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from time import perf_counter
from typing import Literal, Protocol

import numpy as np
from tqdm import tqdm

from triton_ocr.config import ImageConfig, OCRConfig
from triton_ocr.eval.datasets import Dataset, Sample, load_dataset
from triton_ocr.eval.metrics import (
    CERCounts,
    CharBagCounts,
    DetectionCounts,
    WordCounts,
    char_bag_counts,
    detection_counts,
    fold_case_and_spaces,
    fold_width_and_spaces,
    line_cer_counts,
    page_cer_counts,
    word_counts,
)
from triton_ocr.stages import OCRLines
from triton_ocr.steps.image_loading import load_image


@dataclass(frozen=True)
class Scoring:
    """What is measured on a set. ``task="rec"``: recognition only, scored by word accuracy; ``"ocr"``: the full
    pipeline, scored by detection P/R/H, line CER (boxes matched) or page CER (no boxes) as flagged. A set with
    no flag is timed only. ``normalize`` is applied to both sides' texts before CER."""

    task: Literal["ocr", "rec"] = "ocr"
    detection: bool = False
    line_cer: bool = False
    page_cer: bool = False
    normalize: Callable[[str], str] = str


SCORING: dict[str, Scoring] = {
    "icdar2015_blurred": Scoring(detection=True),
    "sroie_receipts": Scoring(detection=True, line_cer=True, normalize=fold_case_and_spaces),
    "funsd": Scoring(line_cer=True),
    "cn_game_ui": Scoring(line_cer=True, normalize=fold_width_and_spaces),
    "cnocr_examples": Scoring(page_cer=True, normalize=fold_width_and_spaces),
    "icdar2015_words": Scoring(task="rec"),
    "photos_docs": Scoring(),
}


# ---- engines --------------------------------------------------------------------------------------------------


class Engine(Protocol):
    name: str

    def ocr(self, image: np.ndarray) -> OCRLines:
        """BGR uint8 (H, W, 3) → lines in reading order."""

    def recognize(self, crop: np.ndarray) -> str:
        """BGR uint8 (h, w, 3) line crop → its text, whatever its score."""


class OursEngine:
    name = "ours"

    def __init__(self, config: OCRConfig) -> None:
        from triton_ocr.pipeline import OCRPipeline

        self.pipeline = OCRPipeline(config)

    def ocr(self, image: np.ndarray) -> OCRLines:
        return self.pipeline.ocr(image)

    def recognize(self, crop: np.ndarray) -> str:
        return self.pipeline.read([crop], self.pipeline.config.text_rec)[0][0]


class RapidOCREngine:
    name = "rapidocr"

    def __init__(self, config: OCRConfig) -> None:
        from triton_ocr.eval.rapidocr_reference import RapidOCRReference

        self.reference = RapidOCRReference(config)

    def ocr(self, image: np.ndarray) -> OCRLines:
        return self.reference(image)

    def recognize(self, crop: np.ndarray) -> str:
        recognised, _elapsed = self.reference.engine.text_rec([crop])  # ([(text, score)], seconds)
        return recognised[0][0]


ENGINES: dict[str, Callable[[OCRConfig], Engine]] = {"ours": OursEngine, "rapidocr": RapidOCREngine}


# ---- scoring and timing ---------------------------------------------------------------------------------------


class Tally:
    """Sums one set's metric counts over its images."""

    def __init__(self, scoring: Scoring) -> None:
        self.scoring = scoring
        self.detection = DetectionCounts()
        self.cer = CERCounts()
        self.chars = CharBagCounts()
        self.words = WordCounts()

    def add(self, sample: Sample, output: OCRLines | str) -> None:
        """Score the engine's ``output`` for ``sample``: a recognised text (rec task) or :class:`OCRLines`."""
        s = self.scoring
        if isinstance(output, str):
            self.words += word_counts(sample.lines[0].text, output)
            return
        if s.detection:
            self.detection += detection_counts(sample.lines, list(output.polys))
        if s.line_cer:
            self.cer += line_cer_counts(sample.lines, list(output.polys), output.texts, s.normalize)
        if s.page_cer:
            self.cer += page_cer_counts(sample.lines, output.texts, s.normalize)
        if s.line_cer or s.page_cer:
            polys = list(output.polys) if s.line_cer else None
            self.chars += char_bag_counts(sample.lines, output.texts, s.normalize, polys)

    def metrics(self) -> dict[str, float]:
        """The set's scores (ratios in [0, 1]) and the counts behind them."""
        s, d, w = self.scoring, self.detection, self.words
        out: dict[str, float] = {}
        if s.detection:
            out |= {"det_precision": d.precision, "det_recall": d.recall, "det_hmean": d.hmean}
            out |= {"det_matched": d.matched, "det_gt": d.gt, "det_pred": d.pred}
        if s.line_cer or s.page_cer:
            out |= {"cer": self.cer.cer, "cer_edits": self.cer.edits, "cer_chars": self.cer.chars}
            out |= {"char_f1": self.chars.f1, "chars_common": self.chars.common}
            out |= {"chars_reference": self.chars.reference, "chars_predicted": self.chars.predicted}
        if s.task == "rec":
            out |= {"word_acc_alnum": w.alnum_accuracy, "word_acc_exact": w.exact_accuracy, "words": w.words}
        return out


@dataclass(frozen=True)
class Speed:
    """``images_per_s`` = images / total engine time (decoding and scoring excluded); latency percentiles of the
    engine call per image; ``wall_s`` of the whole run including decoding and scoring."""

    images_per_s: float
    p50_ms: float
    p95_ms: float
    wall_s: float

    @classmethod
    def of(cls, latencies: Sequence[float], wall_s: float) -> Speed:
        """``latencies`` in seconds, one per image."""
        if not latencies:
            return cls(0.0, 0.0, 0.0, wall_s)
        p50, p95 = np.percentile(np.asarray(latencies) * 1000, [50, 95])
        return cls(len(latencies) / sum(latencies), float(p50), float(p95), wall_s)


@dataclass(frozen=True)
class SetResult:
    dataset: str
    engine: str
    images: int
    metrics: dict[str, float]
    speed: Speed

    def to_json_dict(self) -> dict:
        return asdict(self)


def evaluate(engine: Engine, dataset: Dataset, limits: ImageConfig = ImageConfig()) -> SetResult:
    """Run ``engine`` on every image of ``dataset`` (after one untimed warm-up call on the first) and score it."""
    scoring = SCORING[dataset.name]
    call = engine.recognize if scoring.task == "rec" else engine.ocr
    tally, latencies = Tally(scoring), []
    start = perf_counter()
    if dataset.samples:
        call(load_image(dataset.samples[0].image, limits))
    progress = tqdm(dataset.samples, desc=f"{dataset.name} [{engine.name}]", unit="img", leave=False, disable=None)
    for sample in progress:
        image = load_image(sample.image, limits)
        began = perf_counter()
        output = call(image)
        latencies.append(perf_counter() - began)
        tally.add(sample, output)
    speed = Speed.of(latencies, perf_counter() - start)
    return SetResult(dataset.name, engine.name, len(dataset), tally.metrics(), speed)


def run_evaluation(
    set_names: Sequence[str], engine_names: Sequence[str], config: OCRConfig, root: Path, limit: int | None = None
) -> Iterator[SetResult]:
    """Yield a result per (set, engine), engines interleaved set by set; ``limit`` keeps each set's first images."""
    datasets = [load_dataset(name, root) for name in set_names]
    engines = [ENGINES[name](config) for name in engine_names]
    for dataset in datasets:
        subset = Dataset(dataset.name, dataset.samples[:limit])
        for engine in engines:
            yield evaluate(engine, subset, config.image)
