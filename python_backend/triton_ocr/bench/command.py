"""``triton-ocr bench``: in-process throughput and latency next to RapidOCR's, in one run on the same images.

Engines are interleaved image by image (the order alternating every round), so that the machine's drift affects
them alike; the report gives images/s over the whole run, per-image p50/p95 latency and the spread of per-round
throughput, and the ratio of each engine to RapidOCR.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from triton_ocr.config import load_config
from triton_ocr.inputs import IMAGE_SUFFIXES
from triton_ocr.steps.image_loading import load_image

Engine = Callable[[np.ndarray], object]


@dataclass
class Timings:
    """Per-image seconds of one engine, by round."""

    rounds: list[list[float]] = field(default_factory=list)

    def images_per_s(self) -> float:
        seconds = [s for r in self.rounds for s in r]
        return len(seconds) / sum(seconds)

    def round_rates(self) -> list[float]:
        return [len(r) / sum(r) for r in self.rounds]

    def percentile(self, q: float) -> float:
        return float(np.percentile([s for r in self.rounds for s in r], q))


def bench_images(folders: list[Path], limit: int | None) -> list[np.ndarray]:
    paths = sorted(p for folder in folders for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    return [load_image(p) for p in paths[:limit]]


def make_engines(pipeline: str, names: list[str]) -> dict[str, Engine]:
    config = load_config(pipeline)
    engines: dict[str, Engine] = {}
    for name in names:
        if name == "ours":
            from triton_ocr.pipeline import OCRPipeline

            engines[name] = OCRPipeline(config).ocr
        elif name == "rapidocr":
            from triton_ocr.eval.rapidocr_reference import RapidOCRReference

            engines[name] = RapidOCRReference(config)
        else:
            raise ValueError(f"unknown engine {name!r}")
    return engines


def run_interleaved(engines: dict[str, Engine], images: list[np.ndarray], rounds: int) -> dict[str, Timings]:
    for engine in engines.values():
        engine(images[0])  # warm-up: first-call allocations and graph preparation
    timings = {name: Timings() for name in engines}
    order = list(engines)
    for round_index in range(rounds):
        per_round: dict[str, list[float]] = {name: [] for name in engines}
        for image in images:
            for name in order if round_index % 2 == 0 else reversed(order):
                started = time.perf_counter()
                engines[name](image)
                per_round[name].append(time.perf_counter() - started)
        for name, seconds in per_round.items():
            timings[name].rounds.append(seconds)
    return timings


def report(timings: dict[str, Timings], baseline: str) -> str:
    base = timings[baseline].images_per_s() if baseline in timings else None
    rows = [f"{'engine':10} {'images/s':>9} {'round min–max':>15} {'p50 ms':>8} {'p95 ms':>8} {'vs ' + baseline:>12}"]
    for name, t in timings.items():
        rates = t.round_rates()
        ratio = f"{t.images_per_s() / base:.2f}×" if base else "-"
        rows.append(
            f"{name:10} {t.images_per_s():9.2f} {min(rates):7.2f}–{max(rates):<7.2f} "
            f"{t.percentile(50) * 1000:8.0f} {t.percentile(95) * 1000:8.0f} {ratio:>12}"
        )
    return "\n".join(rows)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", type=Path, nargs="+", default=[Path("../shared/data/photos_docs")])
    parser.add_argument("--engines", default="rapidocr,ours", help="comma-separated: rapidocr, ours")
    parser.add_argument("--pipeline", default="OCR")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, help="use only the first N images")
    parser.add_argument("--quick", action="store_true", help="CI smoke run: 3 images, 1 round")


def run(args: argparse.Namespace) -> int:
    limit, rounds = (3, 1) if args.quick else (args.limit, args.rounds)
    images = bench_images(args.images, limit)
    if not images:
        print(f"no images under {', '.join(map(str, args.images))}")
        return 2
    engines = make_engines(args.pipeline, args.engines.split(","))
    timings = run_interleaved(engines, images, rounds)
    print(f"{len(images)} images × {rounds} rounds, engines interleaved")
    print(report(timings, baseline="rapidocr"))
    medians = {name: statistics.median(t.round_rates()) for name, t in timings.items()}
    print("median per-round images/s: " + ", ".join(f"{n} {v:.2f}" for n, v in medians.items()))
    return 0
