"""``triton-ocr soak``: a bounded run of the served stack under mixed good and hostile input, with stub kills.

    triton-ocr soak --minutes 10 [--kill-every 45] [--gateway-clients 2] [--grpc-clients 2] [--out output/soak]

It starts its own supervised Triton (cpu profile, the pipeline's model set) and a ``triton-ocr gateway`` process in
front of it, then for ``--minutes``: a few clients through the gateway and a few over gRPC (the client library, which
sends a request again while a model it needs heals) send a random mix of inputs
(:mod:`~triton_ocr.bench.soak_inputs`), every ``--kill-every`` seconds one stub of a random model gets SIGKILL, and
the memory of the server, each stub and the gateway is sampled. Every answer is judged
(:mod:`~triton_ocr.bench.soak_clients`): a good image must get its own texts, hostile input its 4xx, and a failure
may only be transient (503 and the like) inside a fault window — from a kill to the first good answer sent after
it, plus ``--grace`` —; a kill has recovered when the last failure of a request sent after it came within
``--max-recovery``; private memory may not grow by more than ``--max-growth`` over any life of a process. Writes
``soak.json``, ``soak.md`` and ``soak.png`` (:mod:`~triton_ocr.bench.soak_report`); exits 1 when any of that fails.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from triton_ocr.bench.processes import MiB, private_memory, rss
from triton_ocr.bench.soak_clients import GatewayClient, GrpcClient, Outcome, run_case
from triton_ocr.bench.soak_inputs import Case, attack_cases, draw, good_cases, hostile_cases
from triton_ocr.errors import OCRError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to send requests (default 10)")
    parser.add_argument("--kill-every", type=float, default=45.0, metavar="S",
                        help="SIGKILL one stub of a random model every S seconds (0: no kills; default 45)")
    parser.add_argument("--gateway-clients", type=int, default=2, help="clients through the HTTP gateway")
    parser.add_argument("--grpc-clients", type=int, default=2, help="clients over Triton's gRPC API")
    parser.add_argument("--images", type=int, default=12, help="distinct good images (default 12)")
    parser.add_argument("--sample-every", type=float, default=5.0, metavar="S", help="RSS sampling period")
    parser.add_argument("--warmup", type=float, default=None, metavar="S",
                        help="RSS growth is measured from this time on (default: 20%% of the run)")
    parser.add_argument("--grace", type=float, default=10.0, metavar="S",
                        help="a fault window lasts until the first good answer after the kill plus this (requests "
                        "already routed to the instance being unloaded still fail for a few seconds; default 10)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds a request may take before it is lost")
    parser.add_argument("--max-recovery", type=float, default=5.0, metavar="S",
                        help="a kill after which a request sent later still fails this many seconds after it fails "
                        "the run (default 5)")
    parser.add_argument("--max-growth", type=float, default=10.0, metavar="PCT",
                        help="growth of a process group's private memory over one life after warm-up, in %% of its RSS, "
                        "that fails the run (default 10)")
    parser.add_argument("--pipeline", default="OCR", help="'OCR' or a pipeline YAML")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("output/soak"), help="folder for soak.json/.md/.png")


@dataclasses.dataclass
class Soak:
    """One run's state, shared by the client, killer and sampler threads."""

    args: argparse.Namespace
    cases: list[Case]
    others: dict[tuple[str, ...], str]
    origin: float = 0.0
    deadline: float = 0.0
    outcomes: list[Outcome] = dataclasses.field(default_factory=list)
    kills: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    samples: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def now(self) -> float:
        return time.monotonic() - self.origin

    def running(self) -> bool:
        return time.monotonic() < self.deadline

    def record(self, outcome: Outcome) -> None:
        with self.lock:
            self.outcomes.append(outcome)


def client_loop(soak: Soak, client: Any, seed: int) -> None:
    """Send random cases until the deadline."""
    rng = random.Random(seed)
    try:
        while soak.running():
            soak.record(run_case(client, draw(soak.cases, rng, client.channel), soak.others, soak.origin))
    finally:
        client.close()


def killer_loop(soak: Soak, server: Any, seed: int) -> None:  # noqa: ANN401 - a TritonServer
    """Every ``--kill-every`` seconds, SIGKILL one stub of a random model — none in the run's last 15 s (or last
    half, for runs under 30 s), so that each kill's recovery is seen."""
    from triton_ocr.serving.server.supervisor import model_of

    rng = random.Random(seed)
    every = soak.args.kill_every
    margin = min(15.0, soak.args.minutes * 30)
    next_kill = every
    while every > 0 and soak.running() and soak.deadline - soak.origin - next_kill > margin:
        time.sleep(max(0.0, next_kill - soak.now()))
        stubs = server.stub_processes()
        if not stubs:
            next_kill += 1.0
            continue
        model = rng.choice(sorted({model_of(name) for name in stubs}))
        instance = rng.choice(sorted(name for name in stubs if model_of(name) == model))
        try:
            os.kill(stubs[instance], signal.SIGKILL)
        except ProcessLookupError:
            continue
        instances = sum(model_of(name) == model for name in stubs)
        with soak.lock:
            soak.kills.append({"t": round(soak.now(), 3), "model": model, "instance": instance, "instances": instances})
        next_kill += every


def serving_processes(server: Any, gateway_pid: int) -> dict[str, int]:  # noqa: ANN401 - a TritonServer
    """``{label: pid}``: the server, each instance's current stub, any older stub of an instance still running
    (``leaked:<instance>:<pid>``: an unloaded instance's stub that did not exit), the gateway."""
    from triton_ocr.serving.server.stubs import stub_instances

    found = {"tritonserver": server.pid, "gateway": gateway_pid} if server.pid else {"gateway": gateway_pid}
    for name, stubs in stub_instances(server.shm_prefix).items():
        found[name] = stubs[-1][0]
        found.update({f"leaked:{name}:{pid}": pid for pid, _ in stubs[:-1]})
    return found


def shm_usage(server: Any) -> dict[str, float]:  # noqa: ANN401 - a TritonServer
    """The memory the server's python-backend regions in /dev/shm hold (MiB): all of them, and those no live stub
    uses (a killed stub's region that the server keeps, until the launcher reclaims it)."""
    from triton_ocr.serving.server.stubs import SHM_ROOT, orphaned_regions, regions, used_bytes

    sizes = {}
    for name in regions(server.shm_prefix):
        try:
            sizes[name] = used_bytes(SHM_ROOT / name)
        except OSError:
            continue
    orphans = orphaned_regions(server.shm_prefix)
    orphaned = sum(size for name, size in sizes.items() if name in orphans)
    return {"regions": len(sizes), "total": round(sum(sizes.values()) / MiB, 1),
            "orphaned": round(orphaned / MiB, 1)}


def sampler_loop(soak: Soak, processes: Any, server: Any) -> None:  # noqa: ANN401 - a ProcessMap, a TritonServer
    """RSS and private memory of every serving process and the server's /dev/shm regions (MiB) every
    ``--sample-every`` seconds, until the deadline."""
    while True:
        sizes = {label: round(size / MiB, 1) for label, size in rss(processes).items()}
        private = {label: round(size / MiB, 1) for label, size in private_memory(processes).items()}
        shm = shm_usage(server)
        with soak.lock:
            soak.samples.append({"t": round(soak.now(), 2), "rss_mib": sizes, "private_mib": private,
                                 "shm_mib": shm})
        if not soak.running():
            return
        time.sleep(min(soak.args.sample_every, max(0.0, soak.deadline - time.monotonic()) + 0.01))


def baseline(cases: list[Case], grpc_url: str, timeout_s: float) -> list[Case]:
    """Each good case with the server's answer as its expected texts, after checking that the answer holds the
    numbers rendered on the image (so a wrong baseline cannot hide a crossed answer)."""
    client = GrpcClient(grpc_url, timeout_s)
    try:
        served = []
        for case in cases:
            if case.kind == "good":
                status, texts, detail, _ = client.send(case)
                numbers = [line.split()[1] for line in case.expected]
                if status != "ok" or not all(any(n in text for text in texts or ()) for n in numbers):
                    raise OCRError(f"soak warm-up: {case.name} read {texts!r} ({status} {detail}), "
                                   f"rendered {case.expected!r}")
                case = dataclasses.replace(case, expected=texts)
            served.append(case)
        return served
    finally:
        client.close()


def start_gateway(triton_url: str, out: Path) -> tuple[subprocess.Popen, str]:
    """``triton-ocr gateway`` in a process of its own (its RSS is measured apart), with the chart's glibc settings."""
    import httpx

    from triton_ocr.heap import GATEWAY_MALLOC_SETTINGS
    from triton_ocr.serving.server.launcher import die_with_parent, free_ports

    (port,) = free_ports(1)
    log = (out / "gateway.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "triton_ocr.cli", "gateway", "--triton-url", triton_url, "--port", str(port)],
        env={**os.environ, **GATEWAY_MALLOC_SETTINGS}, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        preexec_fn=die_with_parent,  # a soak that is killed takes its gateway along
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/health/ready", timeout=10).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    raise OCRError(f"the soak's gateway did not become ready (log: {out / 'gateway.log'})")


def run_threads(soak: Soak, server: Any, gateway_url: str, gateway_pid: int) -> None:  # noqa: ANN401
    """Clients, killer and sampler until the deadline."""
    args = soak.args
    clients: list[Any] = [GatewayClient(gateway_url, args.timeout) for _ in range(args.gateway_clients)]
    clients += [GrpcClient(server.grpc_url, args.timeout) for _ in range(args.grpc_clients)]
    processes = functools.partial(serving_processes, server, gateway_pid)
    soak.origin = time.monotonic()
    soak.deadline = soak.origin + args.minutes * 60
    threads = [threading.Thread(target=client_loop, args=(soak, c, args.seed + i), daemon=True)
               for i, c in enumerate(clients)]
    threads.append(threading.Thread(target=killer_loop, args=(soak, server, args.seed), daemon=True))
    threads.append(threading.Thread(target=sampler_loop, args=(soak, processes, server), daemon=True))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=args.minutes * 60 + args.timeout + 30)


def soak_run(args: argparse.Namespace) -> dict[str, Any]:
    """Start the stack, run the soak, stop everything; the report's data (:func:`soak_report.summarise`)."""
    from triton_ocr.bench.soak_report import summarise
    from triton_ocr.config import load_config
    from triton_ocr.serving.server.launcher import TritonServer

    args.out.mkdir(parents=True, exist_ok=True)
    config = load_config(args.pipeline)
    server = TritonServer.on_free_ports(config=config, profile="cpu", model_sets=(), health_interval_s=1.0,
                                        log_file=args.out / "tritonserver.log")
    gateway = None
    try:
        server.start()
        hostile = hostile_cases(args.seed) + attack_cases(server.config.text_rec.max_width)
        cases = baseline(good_cases(args.images, args.seed) + hostile, server.grpc_url, args.timeout)
        others = {case.expected: case.name for case in cases if case.kind == "good"}
        gateway, gateway_url = start_gateway(server.grpc_url, args.out)
        soak = Soak(args, cases, others)
        run_threads(soak, server, gateway_url, gateway.pid)
        return summarise(soak, restarts=server.restarts, reloads=server.reloads)
    finally:
        if gateway is not None:
            gateway.terminate()
            gateway.wait(timeout=20)
        server.stop()


def run(args: argparse.Namespace) -> int:
    from triton_ocr.bench.soak_report import write_reports

    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    logging.getLogger("triton_ocr.config").setLevel(logging.ERROR)  # the amplifying case's override, per request
    report = soak_run(args)
    paths = write_reports(report, args.out)
    print(json.dumps(report["verdict"], indent=2))
    print("reports: " + ", ".join(str(p) for p in paths))
    return 0 if report["verdict"]["passed"] else 1
