"""``triton-ocr bench``: every way of running the pipeline, side by side in one run on the same images.

    triton-ocr bench                  # RapidOCR, ours (OpenVINO bf16, fp32, ONNX Runtime), Triton c=1..16, gateway
    triton-ocr bench --variant ort 'pipeline_defaults={"runtime":{"engine":"onnxruntime"}}'   # + Triton on ORT
    triton-ocr bench --quick          # CI smoke run: 4 small images, 1 round, c=1,2 (checks that it works)
    triton-ocr bench --variant t2 text_rec.instances=2 text_rec.intra_op_threads=1 --engines ""   # tuning
    triton-ocr bench --memory 2000    # RSS of tritonserver, every stub and the gateway over 2000 requests

Rows: the in-process engines, each in a worker process of its own, interleaved image by image (alternating order);
the Triton ensemble over gRPC (``ocr``, encoded images) at each concurrency; the HTTP gateway (``POST /ocr``,
base64, its own process, in front of the same server) at the Triton rows' best concurrency. Every row starts from
the encoded files (decoding is part of its time). Rounds alternate the order of the rows, so that the machine's
drift touches them alike; a row's images/s is the median over rounds (with the min–max spread), latency
percentiles are over every image of every round. Peak RSS: the engine's worker process for in-process rows;
``tritonserver`` + its python stubs for Triton rows (+ the gateway process for gateway rows).
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from triton_ocr.bench.data import DEFAULT_FOLDERS, BenchImage, select_images, shuffled
from triton_ocr.bench.extras import missing_extras
from triton_ocr.bench.inprocess import needs_reference_env
from triton_ocr.eval.reference_process import PYTHON as REFERENCE_PYTHON
from triton_ocr.bench.results import Row, best, cpu_table, goals, table

log = logging.getLogger(__name__)


def parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def profile_variant(base: str, name: str, assignments: list[str]):  # noqa: ANN201 - ServingProfile
    """The serving profile ``base`` with dotted fields replaced: a model's settings by its name
    (``text_rec.instances=2``, ``text_det.preferred_batch_sizes=[2,4]``) or a profile field
    (``pipeline_defaults={"text_rec":{"batch_size":4}}``)."""
    from triton_ocr.serving.repository.profiles import ServingProfile, get_profile

    data = get_profile(base).model_dump()
    for assignment in assignments:
        key, _, value = assignment.partition("=")
        *path, leaf = key.strip().split(".")
        models = {**data["python_models"], **data["inference_models"]}
        node = models[path.pop(0)] if path and path[0] in models else data
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node:
            raise SystemExit(f"--variant {name}: {key} is not a serving profile field")
        node[leaf] = parse_value(value)
    data["name"] = name
    try:
        return ServingProfile.model_validate(data)
    except ValidationError as exc:
        raise SystemExit(f"--variant {name}: {exc}") from None


def non_negative(text: str) -> int:
    """An argparse type: an int ≥ 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", type=Path, nargs="+", default=list(DEFAULT_FOLDERS),
                        help="image folders (default: ../shared/data/photos_docs and icdar2015_blurred)")
    parser.add_argument("--per-folder", type=int, default=30, help="images per folder, evenly spaced (default 30)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup-rounds", type=non_negative, default=0, metavar="N",
                        help="untimed passes of every image through every row before the timed rounds (default 0: "
                             "only a first-call warm-up; 1: the steady state, each input shape's kernels compiled)")
    parser.add_argument("--engines", default="rapidocr,ours,ours-fp32,ours-onnxruntime",
                        help="in-process rows, comma-separated: rapidocr, ours (the pipeline's engine), ours-fp32 "
                             "(OpenVINO fp32), ours-onnxruntime, ours:SET:PRECISION, rapidocr3[:SET] (RapidOCR "
                             "3.10), faster-paddle:small, faster-paddle:tiny (the peer faster-paddle 1.0.4) ('' for "
                             "none)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4, 8, 16], help="Triton rows")
    parser.add_argument("--no-triton", dest="triton", action="store_false", help="in-process rows only")
    parser.add_argument("--no-gateway", dest="gateway", action="store_false")
    parser.add_argument("--gateway-concurrency", type=int,
                        help="the gateway row's concurrency (default: the best Triton row's, from round 1)")
    parser.add_argument("--gateway-visualize", action="store_true",
                        help="also a gateway row with visualize on (the result picture drawn and JPEG-encoded)")
    parser.add_argument("--profile", default="cpu", help="serving profile of the Triton rows (cpu or gpu)")
    parser.add_argument("--variant", nargs="+", action="append", default=[], metavar=("NAME", "FIELD=VALUE"),
                        help="another Triton server: --profile with fields replaced, measured in the same rounds "
                             "(repeatable), e.g. --variant rec2x1 text_rec.instances=2 text_rec.intra_op_threads=1")
    parser.add_argument("--variants-only", action="store_true", help="serve only the --variant profiles")
    parser.add_argument("--pipeline", default="OCR", help="'OCR' or a pipeline YAML (every row uses it)")
    parser.add_argument("--quick", action="store_true", help="CI smoke run: 4 small images, 1 round, c=1,2")
    parser.add_argument("--memory", type=int, metavar="REQUESTS",
                        help="memory mode: RSS of every serving process over this many requests of mixed sizes")
    parser.add_argument("--memory-concurrency", type=int, default=4)
    parser.add_argument("--memory-large-every", type=int, default=10,
                        help="memory mode: every Nth request is a full-size image (the others are at 640 px)")
    parser.add_argument("--json", type=Path, help="write every row's numbers (and server statistics) here")
    parser.add_argument("--plot", type=Path, help="write a PNG: images/s and latency vs concurrency")
    parser.add_argument("--log-dir", type=Path, help="server and gateway logs (default: a temporary folder)")


class Bench:
    """The servers, workers and rows of one run."""

    def __init__(self, args: argparse.Namespace, images: list[BenchImage]) -> None:
        self.args = args
        self.images = images
        self.rows: list[Row] = []
        self.workers: dict[str, Any] = {}
        self.servers: list[Any] = []
        self.targets: list[Any] = []
        self.gateway: Any = None
        self.gateway_visual: Any = None
        self.log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="triton-ocr-bench-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)

    def row(self, label: str, kind: str, concurrency: int = 1, target: str = "") -> Row:
        for row in self.rows:
            if row.label == label:
                return row
        self.rows.append(Row(label, kind, concurrency, target))
        return self.rows[-1]

    # -- start-up -----------------------------------------------------------------------------------------------
    def start(self, engines: list[str], profiles: list[Any]) -> None:
        from triton_ocr.bench.inprocess import EngineWorker

        for name in engines:
            self.workers[name] = EngineWorker(name, self.args.pipeline, self.images)
        for name in engines:
            self.row(name, "in-process")
        for profile in profiles:
            self.start_triton(profile)
        for worker in self.workers.values():
            worker.wait_ready()

    def start_triton(self, profile: Any) -> None:
        from triton_ocr.bench.remote import GatewayProcess, TritonTarget
        from triton_ocr.config import load_config
        from triton_ocr.serving.server.launcher import TritonServer, free_ports

        label = "triton" if profile.name == self.args.profile else f"triton[{profile.name}]"
        if profile.name != self.args.profile and not self.targets and self.args.variants_only:
            self.args.profile = profile.name  # the first variant is the reference of the goals
        server = TritonServer.on_free_ports(
            config=load_config(self.args.pipeline), profile=profile, model_sets=(), health_interval_s=3600.0,
            log_file=self.log_dir / f"tritonserver-{profile.name}.log",
        )
        self.servers.append(server)
        server.start()
        target = TritonTarget(server, label)
        self.targets.append(target)
        for concurrency in self.args.concurrency:
            self.row(f"{label} c={concurrency}", "triton", concurrency, profile.name)
        if self.args.gateway and len(self.targets) == 1:
            port, visual_port = free_ports(2)
            self.gateway = GatewayProcess(server.grpc_url, port, self.log_dir / "gateway.log")
            self.gateway.wait_ready()
            self.gateway.prepare(self.images)
            if self.args.gateway_visualize:
                self.gateway_visual = GatewayProcess(
                    server.grpc_url, visual_port, self.log_dir / "gateway-visualize.log", visualize=True
                )
                self.gateway_visual.wait_ready()
                self.gateway_visual.prepare(self.images)

    def stop(self) -> None:
        for worker in self.workers.values():
            worker.stop()
        for gateway in (self.gateway, self.gateway_visual):
            if gateway is not None:
                gateway.stop()
        for target in self.targets:
            target.close()
        for server in self.servers:
            server.stop()

    # -- measuring ----------------------------------------------------------------------------------------------
    def in_process_round(self, images: list[BenchImage], reverse: bool) -> None:
        if not self.workers:
            return
        from triton_ocr.bench.processes import cpu_seconds, fixed_processes

        seconds: dict[str, list[float]] = {name: [] for name in self.workers}
        names = list(self.workers)
        pids = {name: fixed_processes(worker=worker.process.pid) for name, worker in self.workers.items()}
        cpu_before = {name: cpu_seconds(pids[name]) for name in names}
        for index, image in enumerate(images):
            for name in reversed(names) if (index + reverse) % 2 else names:
                seconds[name].append(self.workers[name].run(image))
        for name, values in seconds.items():
            row = self.row(name, "in-process")
            row.add_round(len(values), sum(values), values)
            row.add_cpu(cpu_before[name], cpu_seconds(pids[name]))
            log.info("%s: %.2f images/s", row.label, row.round_rates[-1])

    def triton_round(self, target: Any, images: list[BenchImage], reverse: bool) -> None:
        from triton_ocr.bench.processes import PeakSampler, cpu_seconds, triton_processes
        from triton_ocr.bench.remote import concurrent_pass, statistics_delta

        concurrencies = list(reversed(self.args.concurrency)) if reverse else list(self.args.concurrency)
        for concurrency in concurrencies:
            row = self.row(f"{target.label} c={concurrency}", "triton", concurrency, target.server.profile.name)
            before, cpu_before = target.statistics(), cpu_seconds(triton_processes(target.server))
            with PeakSampler(triton_processes(target.server)) as sampler:
                result = concurrent_pass(target.call, images, concurrency)
            row.add_cpu(cpu_before, cpu_seconds(triton_processes(target.server)))
            row.add_stats(statistics_delta(target.statistics(), before))
            row.add_round(len(images), result.wall_s, result.latencies, result.failures)
            row.peak_rss = max(row.peak_rss, sampler.peak)
            log.info("%s: %.2f images/s", row.label, row.round_rates[-1])

    def gateway_round(self, images: list[BenchImage]) -> None:
        from triton_ocr.bench.processes import PeakSampler, combined, cpu_seconds, fixed_processes, triton_processes
        from triton_ocr.bench.remote import concurrent_pass

        target = self.targets[0]
        concurrency = self.args.gateway_concurrency
        if concurrency is None:
            top = best(self.rows, "triton", target.server.profile.name)
            concurrency = top.concurrency if top else 4
            self.args.gateway_concurrency = concurrency  # fixed from the first round on
        for gateway, label in ((self.gateway, "gateway"), (self.gateway_visual, "gateway visualize")):
            if gateway is None:
                continue
            row = self.row(f"{label} c={concurrency}", "gateway", concurrency, target.server.profile.name)
            processes = combined(triton_processes(target.server), fixed_processes(gateway=gateway.pid))
            cpu_before = cpu_seconds(processes)
            with PeakSampler(processes) as sampler:
                result = concurrent_pass(gateway.call, images, concurrency)
            row.add_cpu(cpu_before, cpu_seconds(processes))
            row.add_round(len(images), result.wall_s, result.latencies, result.failures)
            row.peak_rss = max(row.peak_rss, sampler.peak)
            log.info("%s: %.2f images/s", row.label, row.round_rates[-1])

    def warm_up(self, rounds: int) -> None:
        """One pass of a few images through every server path (first-call allocations, connection set-up), then
        ``rounds`` untimed passes of every image through every row's engine or server (each input shape's kernels
        compiled before the timed rounds: the steady state of a long-running service)."""
        from triton_ocr.bench.remote import concurrent_pass

        few = self.images[: min(4, len(self.images))]
        gateways = [gateway for gateway in (self.gateway, self.gateway_visual) if gateway is not None]
        calls = [target.call for target in self.targets] + [gateway.call for gateway in gateways]
        for call in calls:
            concurrent_pass(call, few, 2)
        for round_index in range(rounds):
            for image in self.images:
                for worker in self.workers.values():
                    worker.run(image)
            for call in calls:
                concurrent_pass(call, self.images, max(self.args.concurrency))
            log.info("warm-up round %d/%d done", round_index + 1, rounds)

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"images": [i.name for i in self.images], "rows": [r.summary() for r in self.rows]},
                                   indent=1))

    def run(self, rounds: int, warmup_rounds: int = 0) -> None:
        self.warm_up(warmup_rounds)
        for round_index in range(rounds):
            images = shuffled(self.images, seed=round_index)
            reverse = round_index % 2 == 1
            segments = [lambda: self.in_process_round(images, reverse)]
            segments += [lambda t=target: self.triton_round(t, images, reverse) for target in self.targets]
            if self.gateway is not None:
                segments.append(lambda: self.gateway_round(images))
            if reverse and (self.gateway is None or self.args.gateway_concurrency is not None):
                segments.reverse()
            started = time.perf_counter()
            for segment in segments:
                segment()
            log.info("round %d/%d: %.0f s", round_index + 1, rounds, time.perf_counter() - started)
            if self.args.json:  # after every round: an interrupted run keeps what it measured
                self.write_json(self.args.json)
        for name, worker in self.workers.items():
            self.row(name, "in-process").peak_rss = worker.peak_rss()


def run(args: argparse.Namespace) -> int:
    needs = {"psutil": "serve", **({"tritonclient": "triton"} if args.triton else {}),
             **({"matplotlib": "loadtest"} if args.plot else {})}
    missing = missing_extras("bench", needs)
    if missing:
        print(missing)
        return 2
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.quick:
        args.per_folder, args.rounds = 2, 1
        args.concurrency = [c for c in args.concurrency if c <= 2] or [1]
    if args.memory:
        from triton_ocr.bench.memory import run_memory

        return run_memory(args)
    folders = [folder for folder in args.images if folder.is_dir()]
    if not folders:
        print(f"no image folder among {', '.join(map(str, args.images))}")
        return 2
    images = select_images(folders, args.per_folder, smallest=args.quick)
    engines = [name for name in args.engines.split(",") if name.strip()]
    if args.quick and not REFERENCE_PYTHON.is_file():
        left_out = [name for name in engines if needs_reference_env(name, args.pipeline)]
        engines = [name for name in engines if name not in left_out]
        if left_out:
            print(f"--quick without the reference environment (scripts/reference_env.sh): leaving out "
                  f"{', '.join(left_out)}")
    profiles = []
    if args.triton:
        from triton_ocr.serving.repository.profiles import get_profile

        profiles = [get_profile(args.profile)] + [profile_variant(args.profile, v[0], v[1:]) for v in args.variant]
        if args.variants_only and args.variant:
            profiles = profiles[1:]
    else:
        args.gateway = False
    bench = Bench(args, images)
    try:
        bench.start(engines, profiles)
        bench.run(args.rounds, args.warmup_rounds)
    finally:
        bench.stop()
    print(f"{len(images)} images ({', '.join(f.name for f in folders)}), {args.rounds} round(s) after "
          f"{args.warmup_rounds} warm-up round(s), "
          f"serving profile {args.profile}" + (f", variants {', '.join(v[0] for v in args.variant)}"
                                                if args.variant else ""))
    print(table(bench.rows))
    for line in goals(bench.rows, args.profile):
        print(line)
    print("CPU ms per image, by process (worker: the in-process engine's process):")
    print(cpu_table(bench.rows))
    from triton_ocr.bench.remote import model_table

    for row in bench.rows:
        if row.kind == "triton" and row.stats and (row.concurrency in (1, args.gateway_concurrency)
                                                    or row is best(bench.rows, "triton", row.target)):
            print(f"server statistics, {row.label} (mean per request):")
            print("\n".join(model_table(row.stats)))
    if args.json:
        bench.write_json(args.json)
    if args.plot:
        from triton_ocr.bench.plots import plot_bench

        plot_bench([r.summary() for r in bench.rows], args.plot)
        print(f"plot written to {args.plot}")
    return 0
