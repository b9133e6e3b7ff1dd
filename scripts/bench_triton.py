"""Throughput of the in-process pipeline vs the Triton server (gRPC) at several client concurrencies, in one run.

    .venv/bin/python scripts/bench_triton.py            # every photos_docs image, 3 interleaved rounds
    .venv/bin/python scripts/bench_triton.py --quick    # 6 images, 1 round (CI smoke run)

Rounds alternate the modes so that drift in machine load hits all of them alike; each mode reports the median
images/s over rounds with the min–max spread, the ratio to in-process, and per-request latency p50/p95 (Triton).
The server's statistics show how dynamic batching merged the work (executions vs requests per model).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from triton_ocr.config import OCRConfig
from triton_ocr.inputs import IMAGE_SUFFIXES
from triton_ocr.pipeline import OCRPipeline
from triton_ocr.serving import contract
from triton_ocr.serving.server import TritonServer
from triton_ocr_client import OCRClient

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "photos_docs"


def images(folder: Path, limit: int | None) -> list[bytes]:
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if limit:
        paths = sorted(paths, key=lambda p: p.stat().st_size)[:limit]
    return [p.read_bytes() for p in paths]


def in_process_pass(pipeline: OCRPipeline, data: list[bytes]) -> tuple[float, list[float]]:
    """(wall seconds, per-image seconds) for one sequential pass."""
    latencies = []
    start = time.perf_counter()
    for image in data:
        began = time.perf_counter()
        next(pipeline.predict(image))
        latencies.append(time.perf_counter() - began)
    return time.perf_counter() - start, latencies


def triton_pass(client: OCRClient, data: list[bytes], concurrency: int) -> tuple[float, list[float]]:
    """(wall seconds, per-request seconds) with ``concurrency`` requests in flight."""

    def one(image: bytes) -> float:
        began = time.perf_counter()
        client.ocr(image)
        return time.perf_counter() - began

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(one, data))
    return time.perf_counter() - start, latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def merge_report(server: TritonServer) -> list[str]:
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(server.grpc_url.split("://")[1])
    lines = []
    for model in (contract.TEXT_DET, contract.TEXT_REC):
        stats = client.get_inference_statistics(model, as_json=True)["model_stats"][0]
        requests = int(stats["inference_stats"]["success"].get("count", 0))
        lines.append(
            f"  {model}: {requests} requests ({stats.get('inference_count', 0)} items) "
            f"in {stats.get('execution_count', 0)} executions"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="6 smallest images, 1 round")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--profile", default="cpu")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"no data at {args.data}", file=sys.stderr)
        return 2
    data = images(args.data, 6 if args.quick else None)
    rounds = 1 if args.quick else args.rounds
    pipeline = OCRPipeline(OCRConfig())
    walls: dict[str, list[float]] = {}
    latencies: dict[str, list[float]] = {}
    with TritonServer.on_free_ports(profile=args.profile, health_interval_s=60.0) as server:
        with OCRClient.from_url(server.grpc_url, timeout_s=600) as client:
            in_process_pass(pipeline, data[:2])
            triton_pass(client, data[:2], 2)
            for _ in range(rounds):
                wall, lat = in_process_pass(pipeline, data)
                walls.setdefault("in-process", []).append(wall)
                latencies.setdefault("in-process", []).extend(lat)
                for concurrency in args.concurrency:
                    wall, lat = triton_pass(client, data, concurrency)
                    walls.setdefault(f"triton c={concurrency}", []).append(wall)
                    latencies.setdefault(f"triton c={concurrency}", []).extend(lat)
        merged = merge_report(server)
    base = statistics.median(len(data) / w for w in walls["in-process"])
    print(f"{len(data)} images from {args.data}, {rounds} round(s), profile {args.profile}")
    print(f"{'mode':16} {'img/s median':>12} {'min':>7} {'max':>7} {'ratio':>6} {'p50 s':>7} {'p95 s':>7}")
    for mode, values in walls.items():
        rates = [len(data) / w for w in values]
        median = statistics.median(rates)
        print(
            f"{mode:16} {median:12.2f} {min(rates):7.2f} {max(rates):7.2f} {median / base:6.2f} "
            f"{percentile(latencies[mode], 0.5):7.2f} {percentile(latencies[mode], 0.95):7.2f}"
        )
    print("dynamic batching (whole run, warm-up included):")
    print("\n".join(merged))
    return 0


if __name__ == "__main__":
    sys.exit(main())
