"""``triton-ocr eval``: accuracy and speed on the labelled development sets, ours and/or RapidOCR.

    triton-ocr eval [--data ../shared/data] [--sets a,b] [--engine ours|rapidocr|both] [--limit N] [--json PATH]

Prints a Markdown table (one row per set and engine, engines adjacent) and optionally writes every number as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

from triton_ocr.config import load_config
from triton_ocr.errors import ConfigError
from triton_ocr.eval.datasets import DEFAULT_DATA_ROOT, LOADERS
from triton_ocr.eval.runner import SetResult, run_evaluation

ENGINE_CHOICES = {"ours": ("ours",), "rapidocr": ("rapidocr",), "both": ("ours", "rapidocr")}

# (header, metric key, scale): ratios are shown as percentages.
METRIC_COLUMNS = (
    ("det P %", "det_precision", 100),
    ("det R %", "det_recall", 100),
    ("det H %", "det_hmean", 100),
    ("word acc % (alnum)", "word_acc_alnum", 100),
    ("word acc % (exact)", "word_acc_exact", 100),
    ("CER %", "cer", 100),
    ("char F1 %", "char_f1", 100),
)
SPEED_COLUMNS = (("img/s", "images_per_s"), ("p50 ms", "p50_ms"), ("p95 ms", "p95_ms"))


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_ROOT, help="data root (default: ../shared/data)")
    parser.add_argument("--sets", default=",".join(LOADERS), help=f"comma-separated, default all: {','.join(LOADERS)}")
    parser.add_argument("--engine", choices=ENGINE_CHOICES, default="ours", help="which engine(s) to run")
    parser.add_argument("--pipeline", default="OCR", help="'OCR' or a pipeline YAML (both engines use it)")
    parser.add_argument("--limit", type=int, help="take only the first N images of each set (smoke runs)")
    parser.add_argument("--json", type=Path, help="write every number (and the config) to this JSON file")


def parse_sets(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in LOADERS]
    if unknown or not names:
        raise ConfigError(f"unknown or no sets {unknown}; choose from {', '.join(LOADERS)}")
    return names


def format_table(results: Sequence[SetResult]) -> str:
    """A Markdown table: set, engine, images, the metric columns any result has, speed."""
    shown = [col for col in METRIC_COLUMNS if any(col[1] in r.metrics for r in results)]
    header = ["set", "engine", "images", *(h for h, _, _ in shown), *(h for h, _ in SPEED_COLUMNS)]
    rows = [header, ["---"] * len(header)]
    for r in results:
        metrics = [f"{r.metrics[key] * scale:.1f}" if key in r.metrics else "" for _, key, scale in shown]
        speed = [f"{getattr(r.speed, key):.1f}" for _, key in SPEED_COLUMNS]
        rows.append([r.dataset, r.engine, str(r.images), *metrics, *speed])
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def run(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 1:
        raise ConfigError("--limit must be at least 1")
    config = load_config(args.pipeline)
    results = []
    for result in run_evaluation(parse_sets(args.sets), ENGINE_CHOICES[args.engine], config, args.data, args.limit):
        results.append(result)
        print(f"{result.dataset} [{result.engine}]: {result.images} images, {result.speed.wall_s:.1f} s", file=sys.stderr)
    print(format_table(results))
    if args.json:
        report = {
            "options": {key: value if value is None else str(value) for key, value in vars(args).items()},
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
            "config": config.model_dump(mode="json"),
            "results": [r.to_json_dict() for r in results],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"numbers written to {args.json}")
    return 0
