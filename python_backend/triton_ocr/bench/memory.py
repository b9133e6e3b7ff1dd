"""``triton-ocr bench --memory N``: does any serving process grow over N requests of mixed sizes?

One Triton server (``--profile``) and the gateway in front of it (its own process, as deployed) serve N ``POST /ocr``
requests, ``--memory-concurrency`` at a time: small images (the other folders' images, ``--per-folder`` of each,
downscaled to a 640 px long side: ICDAR 2015 scenes at 640×360 by default) with every ``--memory-large-every``-th
request (default 10: each large image comes up at least once before request 500) a full-size
one (the first folder's originals: ``photos_docs``' photos, tables and 2480×3508 forms). The RSS of
``tritonserver``, of every python stub and of the gateway is read every 100 completed requests; the report gives
each at request 500 and at the end, and the growth in between (goal: under 10%).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from triton_ocr.bench.data import BenchImage, downscaled, mixed_sizes, select_images
from triton_ocr.bench.processes import MiB, combined, fixed_processes, rss, triton_processes

SAMPLE_EVERY = 100
WARM_UP = 20


def growth_table(samples: list[tuple[int, dict[str, int]]], start: int) -> tuple[str, float]:
    """Markdown table of RSS by process at request 0, ``start`` and the end, and the growth ``start`` → end;
    also returns the total's growth in percent."""
    first = samples[0][1]
    at_start = next(sizes for count, sizes in samples if count >= start)
    end_count, end = samples[-1]
    lines = [f"| process | RSS MiB at 0 | at {start} | at {end_count} | growth {start}→{end_count} |",
             "|---|---:|---:|---:|---:|"]
    for label in sorted(end, key=lambda name: (name != "gateway", name != "tritonserver", name)):
        base = at_start.get(label)
        grow = f"{(end[label] - base) / base * 100:+.1f}%" if base else "–"
        lines.append(f"| {label} | {first.get(label, 0) / MiB:.0f} | {(base or 0) / MiB:.0f} | "
                     f"{end[label] / MiB:.0f} | {grow} |")
    total_start, total_end = sum(at_start.values()), sum(end.values())
    total_growth = (total_end - total_start) / total_start * 100
    lines.append(f"| **all** | {sum(first.values()) / MiB:.0f} | {total_start / MiB:.0f} | {total_end / MiB:.0f} | "
                 f"{total_growth:+.1f}% |")
    return "\n".join(lines), total_growth


Samples = list[tuple[int, dict[str, int]]]


def send_all(gateway: Any, requests: list[BenchImage], processes: Any, concurrency: int) -> tuple[Samples, int, float]:
    """Send ``requests`` through ``gateway`` ``concurrency`` at a time, sampling the RSS of ``processes`` every
    :data:`SAMPLE_EVERY` answers: (samples, failed requests, seconds)."""
    done = failures = 0
    lock = threading.Lock()
    started = time.perf_counter()
    samples: Samples = [(0, rss(processes))]

    def one(index: int) -> None:
        nonlocal done, failures
        try:
            gateway.call(requests[index])
        except Exception as exc:  # noqa: BLE001 - counted and shown
            with lock:
                failures += 1
            print(f"request {index} failed: {exc}", flush=True)
        with lock:
            done += 1
            if done % SAMPLE_EVERY == 0 or done == len(requests):
                sizes = rss(processes)
                samples.append((done, sizes))
                print(f"{done}/{len(requests)} requests, {time.perf_counter() - started:.0f} s, "
                      f"RSS {sum(sizes.values()) / MiB:.0f} MiB", flush=True)

    with ThreadPoolExecutor(concurrency) as executor:
        list(executor.map(one, range(len(requests))))
    return samples, failures, time.perf_counter() - started


def run_memory(args: argparse.Namespace) -> int:
    from triton_ocr.bench.remote import GatewayProcess
    from triton_ocr.config import load_config
    from triton_ocr.serving.server.launcher import TritonServer, free_ports

    folders = [folder for folder in args.images if folder.is_dir()]
    if not folders:
        print(f"no image folder among {', '.join(map(str, args.images))}")
        return 2
    # small: the other folders' images (all of them with one folder) at 640 px; large: the first folder's originals
    pool = select_images(folders[1:] or folders, args.per_folder)
    small = [downscaled(image, 640) for image in pool]
    large = select_images(folders[:1], None)
    requests = mixed_sizes(small, large, args.memory, args.memory_large_every)
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="triton-ocr-memory-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    server = TritonServer.on_free_ports(config=load_config(args.pipeline), profile=args.profile, model_sets=(),
                                        health_interval_s=3600.0, log_file=log_dir / "tritonserver.log")
    gateway = None
    try:
        server.start()
        gateway = GatewayProcess(server.grpc_url, free_ports(1)[0], log_dir / "gateway.log")
        gateway.wait_ready()
        processes = combined(triton_processes(server), fixed_processes(gateway=gateway.pid))
        for image in requests[:WARM_UP]:
            gateway.call(image)
        samples, failures, elapsed = send_all(gateway, requests, processes, args.memory_concurrency)
    finally:
        if gateway is not None:
            gateway.stop()
        server.stop()
    start = min(500, samples[-1][0])
    text, growth = growth_table(samples, start)
    print(f"{len(requests)} requests through the gateway ({len(small)} small images cycled, every "
          f"{args.memory_large_every}th one of {len(large)} full-size images), concurrency {args.memory_concurrency}, "
          f"profile {args.profile}, {elapsed:.0f} s, {failures} failed")
    print(text)
    print(f"total RSS growth {start}→{samples[-1][0]}: {growth:+.1f}% (goal < 10%: {'met' if growth < 10 else 'missed'})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"samples": samples, "failures": failures, "seconds": elapsed}, indent=1))
    if args.plot:
        from triton_ocr.bench.plots import plot_memory

        plot_memory(samples, args.plot)
        print(f"plot written to {args.plot}")
    return 0 if failures == 0 else 1
