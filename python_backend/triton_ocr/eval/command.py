"""``triton-ocr eval``: accuracy and speed on the labelled development sets, ours and/or the peers (RapidOCR,
faster-paddle).

    triton-ocr eval [--data ../shared/data] [--sets a,b] [--engine ours|rapidocr|both|...] [--limit N] [--json PATH]

Prints a Markdown table (one row per set and engine, engines adjacent), a legend of its columns and the caveats of
the sets whose protocol keeps their numbers from comparing with published ones, and optionally writes every number
as JSON.
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
from triton_ocr.models.model_sets import MODEL_SETS
from triton_ocr.errors import ConfigError
from triton_ocr.eval.datasets import DEFAULT_DATA_ROOT, LOADERS
from triton_ocr.eval.runner import SetResult, run_evaluation

ENGINE_CHOICES = {
    "ours": ("ours",), "rapidocr": ("rapidocr",), "rapidocr3": ("rapidocr3",), "both": ("ours", "rapidocr"),
    "faster-paddle": ("faster-paddle:small",), "faster-paddle:small": ("faster-paddle:small",),
    "faster-paddle:tiny": ("faster-paddle:tiny",),
}
PRECISIONS = ("bf16", "fp32")

# (header, metric key, scale): ratios are shown as percentages.
METRIC_COLUMNS = (
    ("det P %", "det_precision", 100),
    ("det R %", "det_recall", 100),
    ("det H %", "det_hmean", 100),
    ("word acc % (alnum)", "word_acc_alnum", 100),
    ("word acc % (exact)", "word_acc_exact", 100),
    ("CER %", "cer", 100),
    ("page CER %", "page_cer", 100),
    ("char F1 %", "char_f1", 100),
)
SPEED_COLUMNS = (("img/s", "images_per_s"), ("p50 ms", "p50_ms"), ("p95 ms", "p95_ms"), ("CPU ms/img", "cpu_ms"))
LEGEND = {
    "det P %": "detection precision: predicted boxes matching a labelled one one-to-one at IoU >= 0.5 (ICDAR 2015 "
    "protocol, `###` regions ignored)",
    "det R %": "detection recall: labelled boxes matched so",
    "det H %": "harmonic mean of det P and det R",
    "word acc % (alnum)": "cropped words read right, case and everything but letters and digits ignored (the usual "
    "ICDAR 2015 protocol)",
    "word acc % (exact)": "cropped words read exactly as labelled",
    "CER %": "character error rate, edits / labelled characters: each labelled line against the predicted line it "
    "matches at IoU >= 0.5 (unmatched: all its characters count); without boxes (cnocr_examples) the page's text",
    "page CER %": "CER of the page's text: labelled and predicted lines each joined in reading order (no box "
    "matching, so split or merged lines cost little)",
    "char F1 %": "F1 of the characters the labels and the prediction share, counted per image whatever the lines "
    "and their order",
    "img/s": "images per second of engine time (decoding and scoring left out)",
    "p50 ms": "median engine time per image",
    "p95 ms": "95th-percentile engine time per image",
    "CPU ms/img": "engine CPU time per image, all threads (unlike the wall-clock columns, not disturbed by other jobs)",
}
"""What each column means, printed under the table."""
CAVEATS = {
    "funsd": "segment-level labels: a FUNSD segment (a field, a paragraph) is often several of our lines or part of "
    "one, so its CER measures the protocol as much as the reading; compare engines with each other, not with "
    "published line-level CER",
    "icdar2015_blurred": "synthetically motion-blurred copies of the ICDAR 2015 test scenes: far below published "
    "ICDAR 2015 figures; compare engines with each other, not with papers",
}
"""Sets whose numbers are not comparable with published ones, marked ``(!)`` in the table."""
MARK = " (!)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_ROOT, help="data root (default: ../shared/data)")
    parser.add_argument("--sets", default=",".join(LOADERS), help=f"comma-separated, default all: {','.join(LOADERS)}")
    parser.add_argument("--engine", default="ours",
                        help="comma-separated: ours, rapidocr (1.4.4, our settings), rapidocr3 (3.10.0, its "
                             "defaults), both (= ours,rapidocr), faster-paddle[:small|tiny] (1.0.4, its defaults, "
                             "small unless named; not on the word-crop set: it has no recogniser-alone call)")
    parser.add_argument("--variants",
                        help="ours with these model sets and OpenVINO precisions instead of the pipeline's: "
                             "SET:PRECISION,... (PP-OCRv6_small:fp32), or 'all' (every set in bf16 and fp32)")
    parser.add_argument("--pipeline", default="OCR", help="'OCR' or a pipeline YAML (every engine uses it)")
    parser.add_argument("--limit", help="only the first N images of each set (smoke runs), or per set: "
                                        "cn_game_ui=100,icdar2015_words=500 (sets not named: all)")
    parser.add_argument("--json", type=Path, help="write every number (and the config) to this JSON file")


def parse_sets(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in LOADERS]
    if unknown or not names:
        raise ConfigError(f"unknown or no sets {unknown}; choose from {', '.join(LOADERS)}")
    return names


def parse_engines(engines: str, variants: str | None) -> list[str]:
    """Engine names for :func:`~triton_ocr.eval.runner.make_engine`; ``variants`` stand in for ``ours``."""
    names: list[str] = []
    for name in (n.strip() for n in engines.split(",") if n.strip()):
        if name not in ENGINE_CHOICES:
            raise ConfigError(f"unknown engine {name!r}; choose from {', '.join(ENGINE_CHOICES)}")
        names += [n for n in ENGINE_CHOICES[name] if n not in names]
    if not variants:
        return names
    pairs = [(s, p) for s in MODEL_SETS for p in PRECISIONS] if variants == "all" else [
        tuple(v.strip().split(":")) for v in variants.split(",") if v.strip()]
    for pair in pairs:
        if len(pair) != 2 or pair[0] not in MODEL_SETS or pair[1] not in PRECISIONS:
            raise ConfigError(f"--variants: {':'.join(pair)!r} is not SET:PRECISION with a set of "
                              f"{', '.join(MODEL_SETS)} and a precision of {', '.join(PRECISIONS)}")
    ours = [f"ours:{model_set}:{precision}" for model_set, precision in pairs]
    at = names.index("ours") if "ours" in names else 0
    return names[:at] + ours + [n for n in names[at:] if n != "ours"]


def parse_limit(text: str | None) -> int | dict[str, int] | None:
    """``--limit``: ``None``, a number for every set, or ``set=N,...``."""
    if text is None:
        return None
    try:
        if "=" in text:
            limit: int | dict[str, int] = {
                k.strip(): int(v) for k, v in (item.split("=") for item in text.split(",") if item.strip())
            }
            parse_sets(",".join(limit))
        else:
            limit = int(text)
    except ValueError:
        raise ConfigError(f"--limit {text!r}: a number, or set=N,...") from None
    if min(limit.values() if isinstance(limit, dict) else [limit]) < 1:
        raise ConfigError("--limit must be at least 1")
    return limit


def format_table(results: Sequence[SetResult]) -> str:
    """A Markdown table: set, engine, images, the metric columns any result has, speed."""
    shown = [col for col in METRIC_COLUMNS if any(col[1] in r.metrics for r in results)]
    header = ["set", "engine", "images", *(h for h, _, _ in shown), *(h for h, _ in SPEED_COLUMNS)]
    rows = [header, ["---"] * len(header)]
    for r in results:
        metrics = [f"{r.metrics[key] * scale:.1f}" if key in r.metrics else "" for _, key, scale in shown]
        speed = [f"{getattr(r.speed, key):.1f}" for _, key in SPEED_COLUMNS]
        name = r.dataset + (MARK if r.dataset in CAVEATS else "")
        rows.append([name, r.engine, str(r.images), *metrics, *speed])
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def format_legend(results: Sequence[SetResult]) -> str:
    """What each column of :func:`format_table` means, then the caveat of each marked set in ``results``."""
    shown = [h for h, key, _ in METRIC_COLUMNS if any(key in r.metrics for r in results)]
    lines = ["Columns:", *(f"- {header}: {LEGEND[header]}" for header in [*shown, *(h for h, _ in SPEED_COLUMNS)])]
    marked = [name for name in CAVEATS if any(r.dataset == name for r in results)]
    if marked:
        lines += [f"Marked{MARK}, not comparable with published figures:", *(f"- {n}: {CAVEATS[n]}" for n in marked)]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    limit, engines = parse_limit(args.limit), parse_engines(args.engine, args.variants)
    config = load_config(args.pipeline)
    results = []
    for result in run_evaluation(parse_sets(args.sets), engines, config, args.data, limit):
        results.append(result)
        print(f"{result.dataset} [{result.engine}]: {result.images} images, {result.speed.wall_s:.1f} s, "
              f"{result.speed.cpu_ms:.0f} CPU ms/image", file=sys.stderr)
    print(format_table(results))
    print()
    print(format_legend(results))
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
