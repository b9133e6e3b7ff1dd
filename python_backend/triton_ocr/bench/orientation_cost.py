"""What each orientation switch costs: CPU ms per image with ``use_textline_orientation`` and
``use_doc_orientation_classify`` off and on, in-process and through a Triton server (switched per request), in
interleaved rounds, with each row's ratio to both switches off measured in the same round.

    python -m triton_ocr.bench.orientation_cost [--images DIR ...] [--per-folder 6] [--rounds 3] [--no-triton]

In-process CPU is this process's (every engine thread); served CPU is ``tritonserver`` and its stubs' plus this
process's (the client). Medians over rounds, with the spread (min–max).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from triton_ocr.bench.data import SHARED_DATA, BenchImage, select_images

FOLDERS = (SHARED_DATA / "sroie_receipts" / "img", SHARED_DATA / "cn_game_ui" / "images", SHARED_DATA / "photos_docs")
SWITCHES: dict[str, dict[str, bool]] = {
    "off": {},
    "lines": {"use_textline_orientation": True},
    "page": {"use_doc_orientation_classify": True},
    "both": {"use_textline_orientation": True, "use_doc_orientation_classify": True},
}
"""Each row's per-call parameters; ``off`` is the baseline of the ratios."""

Reader = Callable[[BenchImage, dict[str, bool]], object]
CpuClock = Callable[[], float]


def measure(read: Reader, clock: CpuClock, images: list[BenchImage], params: dict[str, bool]) -> tuple[float, float]:
    """(CPU ms, wall ms) per image of reading ``images`` once with ``params``."""
    cpu, wall = clock(), time.perf_counter()
    for image in images:
        read(image, params)
    count = len(images)
    return (clock() - cpu) * 1000 / count, (time.perf_counter() - wall) * 1000 / count


def run_rounds(read: Reader, clock: CpuClock, images: list[BenchImage], rounds: int) -> dict[str, list[tuple]]:
    """Per switch, one (CPU ms, wall ms, CPU ratio to off) per round; the order of the switches rotates."""
    names = list(SWITCHES)
    for name in names:  # warm-up: every model loaded and compiled for these shapes
        measure(read, clock, images[:2], SWITCHES[name])
    results: dict[str, list[tuple]] = {name: [] for name in names}
    for index in range(rounds):
        order = names[index % len(names):] + names[:index % len(names)]
        measured = {name: measure(read, clock, images, SWITCHES[name]) for name in order}
        for name in names:
            cpu, wall = measured[name]
            results[name].append((cpu, wall, cpu / measured["off"][0]))
    return results


def report(title: str, results: dict[str, list[tuple]]) -> str:
    lines = [f"\n{title}", "| switch | CPU ms/image, median (min–max) | wall ms/image | CPU × off |", "|---|---|---|---|"]
    for name, rows in results.items():
        cpu = [row[0] for row in rows]
        lines.append(f"| {name} | {statistics.median(cpu):.0f} ({min(cpu):.0f}–{max(cpu):.0f}) | "
                     f"{statistics.median(row[1] for row in rows):.0f} | {statistics.median(row[2] for row in rows):.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m triton_ocr.bench.orientation_cost", description=__doc__)
    parser.add_argument("--images", type=Path, nargs="+", default=list(FOLDERS))
    parser.add_argument("--per-folder", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-triton", dest="triton", action="store_false")
    args = parser.parse_args(argv)
    images = select_images([folder for folder in args.images if folder.is_dir()], args.per_folder)
    if not images:
        print(f"no images under {', '.join(map(str, args.images))}")
        return 2
    from triton_ocr.config import OCRConfig
    from triton_ocr.pipeline import OCRPipeline

    pipeline = OCRPipeline(OCRConfig())
    local = run_rounds(lambda image, params: next(pipeline.predict(image.data, **params)), time.process_time,
                       images, args.rounds)
    print(report(f"in-process, {len(images)} images, {args.rounds} rounds", local))
    if args.triton:
        from triton_ocr.bench.processes import cpu_seconds, triton_processes
        from triton_ocr.serving.server.launcher import TritonServer
        from triton_ocr_client import OCRClient

        with TritonServer.on_free_ports(config=OCRConfig(), model_sets=(), health_interval_s=3600.0) as server, \
                OCRClient.from_url(server.grpc_url, timeout_s=300) as client:
            processes = triton_processes(server)

            def clock() -> float:
                return sum(cpu_seconds(processes).values()) + time.process_time()

            served = run_rounds(lambda image, params: next(client.predict(image.data, **params)), clock, images,
                                args.rounds)
        print(report(f"Triton (per request), {len(images)} images, {args.rounds} rounds", served))
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(main())
