"""Rows served over the network: the Triton ensemble over gRPC and the HTTP gateway, driven by client threads.

A pass sends every image once with ``concurrency`` requests in flight (a thread each, one shared gRPC channel or an
HTTP connection per thread) and records the wall time and each request's latency.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triton_ocr.bench.data import BenchImage
from triton_ocr import contract
from triton_ocr.subprocesses import end_process

STAT_FIELDS = ("queue", "compute_input", "compute_infer", "compute_output")


@dataclass
class Pass:
    """One pass over the images: wall seconds, per-request seconds, failed requests."""

    wall_s: float
    latencies: list[float]
    failures: int = 0

    @property
    def images_per_s(self) -> float:
        return len(self.latencies) / self.wall_s


def concurrent_pass(call: Callable[[BenchImage], None], images: Sequence[BenchImage], concurrency: int) -> Pass:
    """Send every image once, ``concurrency`` at a time; a failed request counts in ``failures``."""
    failures = 0
    lock = threading.Lock()

    def one(image: BenchImage) -> float:
        nonlocal failures
        started = time.perf_counter()
        try:
            call(image)
        except Exception:  # noqa: BLE001 - counted; the table shows failures
            with lock:
                failures += 1
        return time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency, thread_name_prefix="bench-client") as pool:
        latencies = list(pool.map(one, images))
    return Pass(time.perf_counter() - started, latencies, failures)


@dataclass
class ModelStats:
    """Cumulative statistics of one model from Triton's statistics API (nanoseconds summed over requests)."""

    requests: int = 0
    executions: int = 0
    items: int = 0
    ns: dict[str, int] = field(default_factory=dict)

    def minus(self, other: ModelStats) -> ModelStats:
        return ModelStats(
            self.requests - other.requests,
            self.executions - other.executions,
            self.items - other.items,
            {key: value - other.ns.get(key, 0) for key, value in self.ns.items()},
        )

    def plus(self, other: ModelStats) -> ModelStats:
        return ModelStats(
            self.requests + other.requests,
            self.executions + other.executions,
            self.items + other.items,
            {key: self.ns.get(key, 0) + other.ns.get(key, 0) for key in set(self.ns) | set(other.ns)},
        )

    def mean_ms(self, key: str) -> float:
        return self.ns.get(key, 0) / max(self.requests, 1) / 1e6


def statistics_snapshot(client: Any, headers: dict[str, str]) -> dict[str, ModelStats]:
    """Every loaded model's cumulative statistics (``tritonclient.grpc`` client; ``headers``: the launcher's admin
    key, which the statistics API needs)."""
    snapshot = {}
    for model in client.get_inference_statistics(as_json=True, headers=headers).get("model_stats", []):
        stats = model.get("inference_stats", {})
        snapshot[model["name"]] = ModelStats(
            requests=int(stats.get("success", {}).get("count", 0)),
            executions=int(model.get("execution_count", 0)),
            items=int(model.get("inference_count", 0)),
            ns={key: int(stats.get(key, {}).get("ns", 0)) for key in ("success", *STAT_FIELDS)},
        )
    return snapshot


def statistics_delta(after: dict[str, ModelStats], before: dict[str, ModelStats]) -> dict[str, ModelStats]:
    return {name: stats.minus(before.get(name, ModelStats())) for name, stats in after.items()}


class TritonTarget:
    """The ``ocr`` ensemble of a started :class:`~triton_ocr.serving.server.TritonServer`, over gRPC."""

    def __init__(self, server: Any, label: str) -> None:
        import tritonclient.grpc as grpcclient

        from triton_ocr_client import OCRClient

        self.server = server
        self.label = label
        self.client = OCRClient.from_url(server.grpc_url, timeout_s=600)
        self.admin = grpcclient.InferenceServerClient(server.grpc_url.split("://", 1)[1])

    def call(self, image: BenchImage) -> None:
        self.client.ocr(image.data)

    def statistics(self) -> dict[str, ModelStats]:
        return statistics_snapshot(self.admin, self.server.admin_headers)

    def close(self) -> None:
        self.client.close()
        self.admin.close()


def gateway_payload(image: BenchImage, visualize: bool) -> bytes:
    """The ``POST /ocr`` body for ``image``: base64 in PaddleX's envelope."""
    return json.dumps({"image": base64.b64encode(image.data).decode("ascii"), "visualize": visualize}).encode()


class GatewayProcess:
    """``triton-ocr gateway --engine triton`` in a process of its own (as deployed), on a free loopback port."""

    def __init__(self, triton_url: str, port: int, log_path: Path, visualize: bool = False,
                 max_in_flight: int = 256) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.visualize = visualize
        self.payloads: dict[str, bytes] = {}
        command = [
            sys.executable, "-m", "triton_ocr.cli", "gateway", "--engine", "triton", "--triton-url", triton_url,
            "--host", "127.0.0.1", "--port", str(port), "--max-in-flight", str(max_in_flight),
            "--inference-timeout", "600",
        ]
        self.log = log_path.open("ab")
        self.process = subprocess.Popen(
            command, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._local = threading.local()

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the gateway exited with code {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=30).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the gateway was not ready within {timeout_s:.0f} s")

    def prepare(self, images: Sequence[BenchImage]) -> None:
        """Encode the request bodies before timing (a client's base64 work is not the gateway's)."""
        for image in images:
            self.payloads.setdefault(image.name, gateway_payload(image, self.visualize))

    def call(self, image: BenchImage) -> None:
        import httpx

        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = httpx.Client(timeout=600)
        body = self.payloads.get(image.name) or gateway_payload(image, self.visualize)
        response = client.post(f"{self.url}/ocr", content=body, headers={"Content-Type": "application/json"})
        if response.status_code != 200:
            raise RuntimeError(f"gateway answered {response.status_code}: {response.text[:200]}")

    def stop(self) -> None:
        end_process(self.process)
        self.log.close()


def model_table(stats: dict[str, ModelStats]) -> list[str]:
    """Per model: requests, executions (dynamic batching), mean queue and compute ms per request."""
    order = [contract.OCR, contract.DET_PREPROCESS, contract.TEXT_DET, contract.OCR_POSTPROCESS, contract.TEXT_REC]
    lines = [f"  {'model':16} {'requests':>8} {'execs':>6} {'items':>6} {'queue ms':>9} {'compute ms':>11}"
             f" {'(in/infer/out)':>20}"]
    for name in order:
        if name not in stats or stats[name].requests == 0:
            continue
        s = stats[name]
        compute = sum(s.mean_ms(key) for key in ("compute_input", "compute_infer", "compute_output"))
        parts = "/".join(f"{s.mean_ms(key):.1f}" for key in ("compute_input", "compute_infer", "compute_output"))
        lines.append(f"  {name:16} {s.requests:8d} {s.executions:6d} {s.items:6d} {s.mean_ms('queue'):9.1f}"
                     f" {compute:11.1f} {parts:>20}")
    return lines
