"""``python -m triton_ocr.bench.pdf_pressure``: do hostile PDFs slow other requests down or grow the gateway?

Starts ``triton-ocr gateway --engine local`` in a process of its own on a free loopback port, with its default
settings (``pdf_workers``, ``image.pdf_*``), then one client sends a good image (two text lines, answer checked)
back to back: first for ``--quiet-s`` seconds alone, then for ``--attack-s`` seconds while the hostile PDFs
(:mod:`~triton_ocr.bench.hostile_pdfs`) are sent in rounds: all at once, the next round when all are answered.
Prints the good requests' p50/p95 quiet and under attack and their ratio (acceptance: p95 under 2×), each hostile
PDF's answers by status and their times, the gateway's RSS after warm-up, at its peak and at the end (acceptance:
end within 10 % of the start), and whether it is alive with no renderer left. Exit status 1 when an acceptance
fails or a good answer was wrong. Loopback only; bounded by the two durations (~1.5 min with the defaults).

    python -m triton_ocr.bench.pdf_pressure [--quiet-s 20] [--attack-s 60] [--pdfs forms_1e8,forms_1e7,...]
                                            [--pdf-workers N]
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
from PIL import Image, ImageDraw, ImageFont

from triton_ocr.bench.hostile_pdfs import HOSTILE_PDFS
from triton_ocr.subprocesses import end_process

MiB = 1 << 20
GOOD_TEXTS = ["pressure 4096", "answered 2718"]
DEFAULT_PDFS = "forms_1e8,forms_1e7,flate_bomb,huge_pages"


def good_body() -> dict[str, object]:
    """A 640 × 160 PNG with :data:`GOOD_TEXTS` on two lines, without the result picture."""
    image = Image.new("RGB", (640, 160), "white")
    for row, text in enumerate(GOOD_TEXTS):
        ImageDraw.Draw(image).text((20, 20 + 70 * row), text, fill="black", font=ImageFont.load_default(40))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return {"image": base64.b64encode(buffer.getvalue()).decode("ascii"), "visualize": False}


class Gateway:
    """``triton-ocr gateway --engine local`` on a free loopback port, its output in a temporary log (removed at
    :meth:`stop`)."""

    def __init__(self, pdf_workers: int | None) -> None:
        self.log = tempfile.NamedTemporaryFile(prefix="pdf_pressure_gateway_", suffix=".log", delete=False)
        command = [sys.executable, "-m", "triton_ocr.cli", "gateway", "--engine", "local", "--host", "127.0.0.1",
                   "--port", "0"]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if pdf_workers is not None:
            env["TRITON_OCR_GATEWAY_PDF_WORKERS"] = str(pdf_workers)
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        env=env)
        self.url = self.wait_ready()

    def wait_ready(self, timeout_s: float = 180.0) -> str:
        deadline = time.monotonic() + timeout_s
        url = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the gateway exited with status {self.process.returncode}; log: {self.log.name}")
            if url is None:
                found = re.search(r"gateway: (http://127\.0\.0\.1:\d+)", Path(self.log.name).read_text())
                url = found.group(1) if found else None
            elif httpx.get(f"{url}/health/ready", timeout=60).status_code == 200:
                return url
            time.sleep(0.2)
        raise RuntimeError(f"the gateway was not ready within {timeout_s:.0f} s; log: {self.log.name}")

    def rss_mib(self) -> float:
        return psutil.Process(self.process.pid).memory_info().rss / MiB

    def renderers(self) -> int:
        return len(psutil.Process(self.process.pid).children(recursive=True))

    def stop(self) -> None:
        end_process(self.process)
        self.log.close()
        Path(self.log.name).unlink()  # kept only when the gateway failed to start (the error names it)


def good_requests(client: httpx.Client, body: dict[str, object], seconds: float, sample: Callable[[], None]
                  ) -> tuple[list[float], int]:
    """Send ``body`` back to back for ``seconds``: each latency, and how many answers were not the expected one."""
    latencies, wrong = [], 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        response = client.post("/ocr", json=body)
        latencies.append(time.monotonic() - started)
        texts = [line["text"] for line in response.json().get("result", {}).get("texts", [])]
        wrong += response.status_code != 200 or texts != GOOD_TEXTS
        sample()
    return latencies, wrong


def attack(url: str, pdfs: dict[str, bytes], until: float, answers: dict[str, list[tuple[int, float]]]) -> None:
    """Send every PDF at once, and again once all are answered, until ``until`` (monotonic); note each answer's
    (status, seconds) under its PDF's name (status 0: no answer, the gateway died or hung)."""
    bodies = {name: {"file": base64.b64encode(data).decode("ascii"), "fileType": 0, "visualize": False}
              for name, data in pdfs.items()}

    def send(name: str) -> tuple[int, float]:
        started = time.monotonic()
        try:
            status = client.post("/ocr", json=bodies[name]).status_code
        except httpx.HTTPError:
            status = 0
        return status, time.monotonic() - started

    with httpx.Client(base_url=url, timeout=120) as client, ThreadPoolExecutor(len(pdfs)) as pool:
        while time.monotonic() < until:
            for name, answer in zip(pdfs, pool.map(send, pdfs)):
                answers[name].append(answer)


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m triton_ocr.bench.pdf_pressure", description=__doc__.split("\n")[0])
    parser.add_argument("--quiet-s", type=float, default=20.0, help="seconds of good requests alone (default 20)")
    parser.add_argument("--attack-s", type=float, default=60.0, help="seconds under attack (default 60)")
    parser.add_argument("--pdfs", default=DEFAULT_PDFS, help=f"hostile PDFs sent at once (default {DEFAULT_PDFS})")
    parser.add_argument("--pdf-workers", type=int, help="the gateway's pdf_workers (default: its default, 2)")
    args = parser.parse_args(argv)
    pdfs = {f"{name}#{i}": HOSTILE_PDFS[name]() for i, name in enumerate(args.pdfs.split(","))}

    gateway = Gateway(args.pdf_workers)
    try:
        body = good_body()
        with httpx.Client(base_url=gateway.url, timeout=120) as client:
            good_requests(client, body, 3.0, lambda: None)  # warm-up
            rss_start = peak = gateway.rss_mib()

            def sample() -> None:
                nonlocal peak
                peak = max(peak, gateway.rss_mib())

            quiet, wrong_quiet = good_requests(client, body, args.quiet_s, sample)
            answers: dict[str, list[tuple[int, float]]] = {name: [] for name in pdfs}
            attacker = threading.Thread(target=attack, args=(gateway.url, pdfs, time.monotonic() + args.attack_s,
                                                             answers))
            attacker.start()
            attacked, wrong_attacked = good_requests(client, body, args.attack_s, sample)
            attacker.join()
            time.sleep(2.0)
            rss_end = gateway.rss_mib()
            alive = gateway.process.poll() is None and client.get("/health").status_code == 200
            renderers = gateway.renderers()
    finally:
        gateway.stop()

    ratio = percentile(attacked, 95) / percentile(quiet, 95)
    growth = (rss_end - rss_start) / rss_start * 100
    print(f"good requests quiet:  {len(quiet)}, p50 {percentile(quiet, 50) * 1000:.0f} ms, "
          f"p95 {percentile(quiet, 95) * 1000:.0f} ms, wrong answers {wrong_quiet}")
    print(f"under attack:         {len(attacked)}, p50 {percentile(attacked, 50) * 1000:.0f} ms, "
          f"p95 {percentile(attacked, 95) * 1000:.0f} ms, wrong answers {wrong_attacked}")
    print(f"p95 under attack / quiet: {ratio:.2f} (acceptance < 2)")
    for name, seen in answers.items():
        if not seen:
            print(f"{name}: no answer")
            continue
        statuses = ", ".join(f"{status} × {count}" for status, count in sorted(Counter(s for s, _ in seen).items()))
        times = sorted(t for _, t in seen)
        print(f"{name:<13} ({len(pdfs[name])} bytes): {statuses}; time min {times[0]:.2f} / median "
              f"{statistics.median(times):.2f} / max {times[-1]:.2f} s")
    print(f"gateway RSS: {rss_start:.0f} MiB after warm-up, peak {peak:.0f}, end {rss_end:.0f} ({growth:+.1f} %, "
          f"acceptance within 10 %); alive: {alive}; renderers left: {renderers}")
    passed = ratio < 2 and abs(growth) <= 10 and alive and renderers == 0 and not (wrong_quiet or wrong_attacked)
    print("passed" if passed else "FAILED")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
