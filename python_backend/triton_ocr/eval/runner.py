"""Run an OCR engine over a dataset: the set's accuracy metrics and the engine's speed.

Engines: ``ours`` (the in-process :class:`~triton_ocr.pipeline.OCRPipeline`), ``ours:SET:PRECISION`` (the same with
another model set and precision), ``rapidocr`` (RapidOCR 1.4.4 with the same parameters,
:class:`~triton_ocr.eval.rapidocr_reference.RapidOCRReference`), ``rapidocr3`` (RapidOCR 3.10.0 with its own
defaults) and ``faster-paddle:SIZE`` (faster-paddle 1.0.4, small or tiny, with its own defaults), the last two in the
reference environment. All take decoded BGR images; on the word-crop set only their recogniser runs, on the whole
crop as one line (an engine without a recogniser-alone call, faster-paddle, leaves that set out).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from time import perf_counter, process_time
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
    reading_page_cer_counts,
    word_counts,
)
from triton_ocr.eval.reference_process import ReferenceProcess
from triton_ocr.stages import OCRLines
from triton_ocr.steps.image_loading import load_image

log = logging.getLogger(__name__)


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
        """BGR uint8 (h, w, 3) line crop → its text, whatever its score. Optional: an engine without it is not run
        on the recognition-only sets."""

    def cpu_seconds(self) -> float:
        """CPU time (user + system, every thread) of the process(es) doing the work, so far."""


class OursEngine:
    name = "ours"

    def __init__(self, config: OCRConfig, name: str = "ours") -> None:
        from triton_ocr.pipeline import OCRPipeline

        self.name = name
        self.pipeline = OCRPipeline(config)

    def cpu_seconds(self) -> float:
        return process_time()

    def ocr(self, image: np.ndarray) -> OCRLines:
        return self.pipeline.ocr(image)

    def recognize(self, crop: np.ndarray) -> str:
        return self.pipeline.read([crop], self.pipeline.config.text_rec)[0][0]


class RapidOCREngine:
    name = "rapidocr"

    def __init__(self, config: OCRConfig) -> None:
        from triton_ocr.eval.rapidocr_reference import RapidOCRReference

        self.reference = RapidOCRReference(config)

    def cpu_seconds(self) -> float:
        return process_time()

    def ocr(self, image: np.ndarray) -> OCRLines:
        return self.reference(image)

    def recognize(self, crop: np.ndarray) -> str:
        recognised, _elapsed = self.reference.engine.text_rec([crop])  # ([(text, score)], seconds)
        return recognised[0][0]


class ProcessEngine:
    """An engine of the reference environment in a child process (:mod:`~triton_ocr.eval.reference_process`); its
    CPU time is the child's. The image hand-over (a file in ``/dev/shm``, a few ms for a large page) is inside the
    timed call."""

    def __init__(self, name: str, process: ReferenceProcess) -> None:
        self.name = name
        self.process = process

    def cpu_seconds(self) -> float:
        return self.process.cpu_seconds

    def ocr(self, image: np.ndarray) -> OCRLines:
        return self.process.ocr(image)

    def close(self) -> None:
        self.process.close()


class RapidOCR3Engine(ProcessEngine):
    """RapidOCR 3.10.0 with its own defaults (PP-OCRv6 small, its angle classifier on); the image goes over as a
    ``.npy`` file."""

    def __init__(self, config: OCRConfig) -> None:
        from triton_ocr.eval.rapidocr3_process import RapidOCR3Process

        super().__init__("rapidocr3", RapidOCR3Process(None, threads=config.runtime.intra_op_threads or 2))

    def recognize(self, crop: np.ndarray) -> str:
        return self.process.recognize(crop)


class FasterPaddleEngine(ProcessEngine):
    """faster-paddle 1.0.4 with its own defaults, model size ``small`` or ``tiny``. It reads encoded files only:
    the decoded image goes over as an uncompressed BMP (the same pixels the other engines get; writing and decoding
    it are inside the timed call). No recogniser-alone call: the word-crop set is left out."""

    def __init__(self, config: OCRConfig, model_size: str = "small") -> None:
        from triton_ocr.eval.faster_paddle_process import FasterPaddleProcess

        threads = config.runtime.intra_op_threads or 2
        super().__init__(f"faster-paddle:{model_size}", FasterPaddleProcess(model_size, threads=threads))


ENGINES: dict[str, Callable[[OCRConfig], Engine]] = {
    "ours": OursEngine, "rapidocr": RapidOCREngine, "rapidocr3": RapidOCR3Engine,
}


def make_engine(spec: str, config: OCRConfig) -> Engine:
    """An engine by name, ``ours:MODEL_SET:PRECISION`` (e.g. ``ours:PP-OCRv6_small:fp32``): ours with that model
    set and OpenVINO precision, named ``MODEL_SET PRECISION`` in the results, or ``faster-paddle:SIZE`` (small or
    tiny), named so."""
    if spec.startswith("ours:"):
        _, model_set, precision = spec.split(":")
        variant = config.with_overrides(model_set=model_set, runtime={"engine": "openvino", "precision": precision})
        return OursEngine(variant, name=f"{model_set} {precision}")
    if spec.startswith("faster-paddle:"):
        return FasterPaddleEngine(config, spec.partition(":")[2])
    return ENGINES[spec](config)


# ---- scoring and timing ---------------------------------------------------------------------------------------


class Tally:
    """Sums one set's metric counts over its images."""

    def __init__(self, scoring: Scoring) -> None:
        self.scoring = scoring
        self.detection = DetectionCounts()
        self.cer = CERCounts()
        self.page = CERCounts()
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
            self.page += reading_page_cer_counts(sample.lines, list(output.polys), output.texts, s.normalize)
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
        if s.line_cer:
            out |= {"page_cer": self.page.cer, "page_cer_edits": self.page.edits}
        if s.line_cer or s.page_cer:
            out |= {"char_f1": self.chars.f1, "chars_common": self.chars.common}
            out |= {"chars_reference": self.chars.reference, "chars_predicted": self.chars.predicted}
        if s.task == "rec":
            out |= {"word_acc_alnum": w.alnum_accuracy, "word_acc_exact": w.exact_accuracy, "words": w.words}
        return out


@dataclass(frozen=True)
class Speed:
    """``images_per_s`` = images / total engine time (decoding and scoring excluded); latency percentiles of the
    engine call per image; ``cpu_ms`` the engine's mean CPU time per image (all its threads: robust to other jobs
    sharing the machine, unlike the wall-clock figures); ``wall_s`` of the whole run including decoding and
    scoring."""

    images_per_s: float
    p50_ms: float
    p95_ms: float
    wall_s: float
    cpu_ms: float = 0.0

    @classmethod
    def of(cls, latencies: Sequence[float], wall_s: float, cpu_s: float = 0.0) -> Speed:
        """``latencies`` in seconds, one per image; ``cpu_s`` the engine's CPU seconds over all of them."""
        if not latencies:
            return cls(0.0, 0.0, 0.0, wall_s)
        p50, p95 = np.percentile(np.asarray(latencies) * 1000, [50, 95])
        return cls(len(latencies) / sum(latencies), float(p50), float(p95), wall_s, cpu_s * 1000 / len(latencies))


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
    tally, latencies, cpu_s = Tally(scoring), [], 0.0
    start = perf_counter()
    if dataset.samples:
        call(load_image(dataset.samples[0].image, limits))
    progress = tqdm(dataset.samples, desc=f"{dataset.name} [{engine.name}]", unit="img", leave=False, disable=None)
    for sample in progress:
        image = load_image(sample.image, limits)
        began, cpu_began = perf_counter(), engine.cpu_seconds()
        output = call(image)
        latencies.append(perf_counter() - began)
        cpu_s += engine.cpu_seconds() - cpu_began
        tally.add(sample, output)
    speed = Speed.of(latencies, perf_counter() - start, cpu_s)
    return SetResult(dataset.name, engine.name, len(dataset), tally.metrics(), speed)


def run_evaluation(
    set_names: Sequence[str],
    engine_names: Sequence[str],
    config: OCRConfig,
    root: Path,
    limit: int | Mapping[str, int] | None = None,
) -> Iterator[SetResult]:
    """Yield a result per (set, engine), engines interleaved set by set. ``limit`` keeps each set's first images:
    a number for every set, or numbers by set name (sets not named: all). ``engine_names``: see
    :func:`make_engine`."""
    datasets = [load_dataset(name, root) for name in set_names]
    engines = [make_engine(name, config) for name in engine_names]
    try:
        for dataset in datasets:
            keep = limit.get(dataset.name) if isinstance(limit, Mapping) else limit
            subset = Dataset(dataset.name, dataset.samples[:keep])
            for engine in engines:
                if SCORING[dataset.name].task == "rec" and not hasattr(engine, "recognize"):
                    log.warning("%s has no recogniser-alone call: %s left out", engine.name, dataset.name)
                    continue
                yield evaluate(engine, subset, config.image)
    finally:
        for engine in engines:
            getattr(engine, "close", lambda: None)()
