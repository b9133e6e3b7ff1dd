"""``triton-ocr loadtest``: locust against the Triton ensemble (gRPC) and the HTTP gateway, on loopback.

    triton-ocr loadtest                                  # triton + gateway, 1,2,4,8,16 users, 30 s each
    triton-ocr loadtest --targets gateway --users 4 8 --duration 60 --out loadtest-results
    triton-ocr loadtest --quick                          # 1 and 2 users, 5 s each (checks that it works)

Starts a Triton server (``TritonServer``, ``--profile``) on free loopback ports and the gateway
(``GatewayServer``, engine triton) in front of it, then runs ``locust --headless`` once per target and user
count, for ``--duration`` seconds (statistics reset once every user has started; users send their next request
as soon as the last is answered, so users = requests in flight). Everything is bounded: at most
``MAX_USERS`` users, ``MAX_DURATION_S`` per step, and each locust process is killed ``--duration`` + 90 s after it
started. Writes under ``--out``: ``raw/`` (locust's CSV per step), ``summary.csv``, ``loadtest.png`` (throughput
and p50/p95/p99 latency vs users) and ``report.html``.
"""

from __future__ import annotations

import argparse
import csv
import html
import logging
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from triton_ocr.bench.data import DEFAULT_FOLDERS

LOADTEST_DIR = Path(__file__).resolve().parents[3] / "loadtest"
LOCUSTFILES = {"triton": LOADTEST_DIR / "locustfile_triton.py", "gateway": LOADTEST_DIR / "locustfile_gateway.py"}
MAX_USERS = 256
MAX_DURATION_S = 600
GRACE_S = 90


@dataclass
class Step:
    """One locust run's aggregate: requests/s and latency percentiles in milliseconds."""

    target: str
    users: int
    requests: int
    failures: int
    throughput: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--targets", default="triton,gateway", help="comma-separated: triton, gateway")
    parser.add_argument("--users", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--duration", type=int, default=30, help="seconds per step (default 30)")
    parser.add_argument("--images", type=Path, nargs="+", default=list(DEFAULT_FOLDERS))
    parser.add_argument("--per-folder", type=int, default=30, help="images per folder (default 30)")
    parser.add_argument("--profile", default="cpu", help="serving profile of the Triton server")
    parser.add_argument("--pipeline", default="OCR")
    parser.add_argument("--visualize", action="store_true", help="gateway requests ask for the result picture")
    parser.add_argument("--out", type=Path, default=Path("loadtest-results"))
    parser.add_argument("--quick", action="store_true", help="1 and 2 users, 5 s each, the 3 smallest images per folder")


def read_step(prefix: Path, target: str, users: int) -> Step:
    """The ``Aggregated`` line of locust's ``<prefix>_stats.csv``."""
    with open(f"{prefix}_stats.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    row = next(r for r in rows if r["Name"] == "Aggregated")
    number = lambda key: float(row[key] or 0)  # noqa: E731
    return Step(target, users, int(number("Request Count")), int(number("Failure Count")), number("Requests/s"),
                number("50%"), number("95%"), number("99%"), number("Average Response Time"))


def run_locust(target: str, host: str, users: int, args: argparse.Namespace, raw: Path) -> Step:
    prefix = raw / f"{target}_u{users}"
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILES[target]), "--headless", "--host", host,
        "-u", str(users), "-r", str(users), "-t", f"{args.duration}s", "--reset-stats", "--only-summary",
        "--stop-timeout", "60", "--csv", str(prefix), "--loglevel", "WARNING", "--exit-code-on-error", "0",
    ]
    env = {
        **os.environ,
        "LOADTEST_IMAGES": os.pathsep.join(str(folder.resolve()) for folder in args.images),
        "LOADTEST_PER_FOLDER": str(args.per_folder),
        "LOADTEST_VISUALIZE": "1" if args.visualize else "0",
        "LOADTEST_SMALLEST": "1" if args.quick else "0",
    }
    with open(raw / f"{target}_u{users}.log", "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=LOADTEST_DIR)
        try:
            code = process.wait(timeout=args.duration + GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()  # bounded: a locust that hangs after its run is stopped; its statistics may be there
            process.wait()
            code = None
    if not Path(f"{prefix}_stats.csv").is_file():
        raise RuntimeError(f"locust ({target}, {users} users) wrote no statistics (exit code {code}): see {log.name}")
    if code is None:
        print(f"warning: locust ({target}, {users} users) was killed after {args.duration + GRACE_S} s", flush=True)
    return read_step(prefix, target, users)


def write_report(steps: list[Step], out: Path, title: str) -> None:
    from triton_ocr.bench.plots import plot_curves

    with open(out / "summary.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(asdict(steps[0])))
        writer.writeheader()
        writer.writerows(asdict(step) for step in steps)
    series: dict[str, list[dict]] = {}
    for step in steps:
        series.setdefault(step.target, []).append(asdict(step))
    plot_curves(series, "users", "users (requests in flight)", out / "loadtest.png", title)
    rows = "".join(
        f"<tr><td>{html.escape(s.target)}</td><td>{s.users}</td><td>{s.requests}</td><td>{s.failures}</td>"
        f"<td>{s.throughput:.2f}</td><td>{s.p50_ms:.0f}</td><td>{s.p95_ms:.0f}</td><td>{s.p99_ms:.0f}</td></tr>"
        for s in steps
    )
    (out / "report.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>triton-ocr load test</title>"
        "<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:right}</style></head><body>"
        f"<h1>triton-ocr load test</h1><p>{html.escape(title)}</p>"
        "<table><tr><th>target</th><th>users</th><th>requests</th><th>failures</th><th>requests/s</th>"
        f"<th>p50 ms</th><th>p95 ms</th><th>p99 ms</th></tr>{rows}</table>"
        "<p><img src='loadtest.png' alt='throughput and latency vs users'></p>"
        "<p>Raw locust statistics: <code>raw/</code>.</p></body></html>",
        encoding="utf-8",
    )


def run(args: argparse.Namespace) -> int:
    from triton_ocr.bench.data import select_images
    from triton_ocr.config import load_config
    from triton_ocr.gateway.server import GatewayServer
    from triton_ocr.gateway.settings import GatewaySettings
    from triton_ocr.serving.server.launcher import TritonServer

    from triton_ocr.bench.extras import missing_extras

    missing = missing_extras("loadtest", {"locust": "loadtest", "matplotlib": "loadtest", "psutil": "serve",
                                          "tritonclient": "triton"})
    if missing:
        print(missing)
        return 2
    args.out = args.out.resolve()  # locust runs in loadtest/: its CSVs must land under --out as the user meant it
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("triton_ocr.gateway.access").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    if args.quick:
        args.users, args.duration, args.per_folder = [1, 2], 5, 3
    targets = [name.strip() for name in args.targets.split(",") if name.strip()]
    unknown = set(targets) - set(LOCUSTFILES)
    if unknown or not targets:
        print(f"unknown targets {', '.join(sorted(unknown))}: use triton, gateway")
        return 2
    if max(args.users) > MAX_USERS or not 1 <= args.duration <= MAX_DURATION_S:
        print(f"bounded: at most {MAX_USERS} users and 1–{MAX_DURATION_S} s per step")
        return 2
    images = select_images([folder for folder in args.images if folder.is_dir()], 2, smallest=True)
    if not images:
        print(f"no images under {', '.join(map(str, args.images))}")
        return 2
    raw = args.out / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    steps: list[Step] = []
    started = time.perf_counter()
    with TritonServer.on_free_ports(config=load_config(args.pipeline), profile=args.profile, model_sets=(),
                                    health_interval_s=3600.0, log_file=args.out / "tritonserver.log") as server:
        settings = GatewaySettings(engine="triton", triton_url=server.grpc_url, host="127.0.0.1", port=0,
                                   pipeline=args.pipeline, max_in_flight=MAX_USERS, inference_timeout_s=600.0)
        with GatewayServer(settings) as gateway:
            hosts = {"triton": server.grpc_url, "gateway": gateway.url}
            warm_up(images, server.grpc_url, gateway.url)
            for target in targets:
                for users in args.users:
                    step = run_locust(target, hosts[target], users, args, raw)
                    print(f"{target:8} {users:3d} users: {step.throughput:6.2f} req/s, p50 {step.p50_ms:.0f} ms, "
                          f"p95 {step.p95_ms:.0f} ms, p99 {step.p99_ms:.0f} ms, {step.failures} failed of "
                          f"{step.requests}", flush=True)
                    steps.append(step)
    title = (f"profile {args.profile}, {args.duration} s per step, images from "
             f"{', '.join(folder.name for folder in args.images)} ({args.per_folder} per folder), "
             f"gateway visualize {'on' if args.visualize else 'off'}, {time.perf_counter() - started:.0f} s in all")
    write_report(steps, args.out, title)
    print(f"report: {args.out / 'report.html'} (summary.csv, loadtest.png, raw/)")
    return 0


def warm_up(images: list, grpc_url: str, gateway_url: str) -> None:
    """A few requests through both paths before the first measured step."""
    import base64

    import httpx

    from triton_ocr_client import OCRClient

    with OCRClient.from_url(grpc_url, timeout_s=600) as client:
        for image in images:
            client.ocr(image.data)
    with httpx.Client(timeout=600) as http:
        for image in images[:2]:
            http.post(f"{gateway_url}/ocr", json={"image": base64.b64encode(image.data).decode(), "visualize": False})


def main(argv: list[str] | None = None) -> int:
    """``python -m triton_ocr.bench.loadtest_command``: the same as ``triton-ocr loadtest``."""
    parser = argparse.ArgumentParser(prog="triton-ocr loadtest", description=__doc__.split("\n\n")[0])
    configure(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(main())
