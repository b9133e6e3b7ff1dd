"""``triton-ocr serve``: run the supervised Triton server and the HTTP gateway, each a process of its own that is
restarted when it dies, or render the model repository.

    triton-ocr serve [--pipeline OCR.yaml] [--profile cpu|gpu] [--host 127.0.0.1] [--http-port 8000] ...
    triton-ocr serve --host 0.0.0.0                   # the gateway on every interface, Triton still on 127.0.0.1
    triton-ocr serve --models PP-OCRv4_mobile,PP-OCRv6_small   # these sets only (default: every installed set)
    triton-ocr serve --no-gateway                     # Triton only
    triton-ocr serve --triton-http                    # Triton's HTTP frontend too (off by default: see --help)
    triton-ocr serve --no-triton --triton-url grpc://HOST:8001   # the gateway only (same as `triton-ocr gateway`)
    triton-ocr serve --build-repo model_repository [--profile cpu|gpu] [--pipeline OCR.yaml]
    triton-ocr serve --build-repo DIR --with-weights  # a loadable repository (weights linked in): image builds
    triton-ocr serve --install [--wheel-dir DIR]      # only fetch the server binary (setup scripts, images)
"""

from __future__ import annotations

import argparse
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from triton_ocr.config import load_config
from triton_ocr.errors import ConfigError
from triton_ocr.serving.repository.profiles import PROFILES, get_profile


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pipeline", default="OCR", help="'OCR' or a pipeline YAML (thresholds, sizes, models)")
    parser.add_argument("--profile", default="cpu", choices=sorted(PROFILES), help="serving profile")
    parser.add_argument(
        "--models", metavar="SET[,SET...]", default=None,
        help="model sets served beside the pipeline's own (each in models of its own, answering at ocr.<SET>): "
        "'all' (the default when serving: every installed set) or a comma-separated list; --build-repo writes "
        "the pipeline's set alone unless given",
    )
    parser.add_argument("--build-repo", type=Path, metavar="DIR", help="only write the model repository to DIR")
    parser.add_argument("--with-weights", action="store_true",
                        help="with --build-repo: also link the models' weights in (a repository Triton can load)")
    parser.add_argument("--install", action="store_true", help="only install the server binary and python stub")
    parser.add_argument("--repository", type=Path, help="serve this repository's configs instead of a fresh render")
    parser.add_argument("--host", default="127.0.0.1",
                        help="the HTTP gateway's address (0.0.0.0 for every interface)")
    parser.add_argument("--triton-host", default="127.0.0.1",
                        help="Triton's address (HTTP, gRPC, metrics); keep it on loopback unless other machines "
                        "must reach Triton itself (its model-control API needs a per-launch key either way)")
    parser.add_argument("--triton-http", action="store_true",
                        help="also open Triton's HTTP frontend on --triton-host:--http-port; it is off by default "
                        "because Triton 2.51 aborts on one crafted JSON request there (gRPC is not affected): open "
                        "it only where no untrusted client can reach it")
    parser.add_argument("--http-port", type=int, default=8000, help="Triton's HTTP port (with --triton-http)")
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--metrics-port", type=int, default=8002)
    parser.add_argument("--wheel-dir", type=Path, help="folder holding the nvidia-pytriton wheel (offline machines)")
    parser.add_argument("--health-interval", type=float, default=2.0, help="seconds between health inferences")
    parser.add_argument("--port", type=int, default=8080,
                        help="the HTTP gateway's port (PaddleX serving's default; 0: a free one, printed)")
    parser.add_argument("--no-gateway", action="store_true", help="run Triton only")
    parser.add_argument("--no-triton", action="store_true", help="run the gateway only, against --triton-url")
    parser.add_argument("--triton-url", default=None, help="with --no-triton: the Triton server's gRPC URL")


def model_sets_argument(text: str | None, default: Sequence[str] | None) -> Sequence[str] | None:
    """``--models``: ``all`` → ``None`` (every installed set), a comma-separated list → those names, absent →
    ``default``."""
    if text is None:
        return default
    if text == "all":
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ConfigError("--models needs model set names (comma-separated) or 'all'")
    return names


def interrupt(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    from triton_ocr.serving.repository.assemble import assemble_repository, write_render
    from triton_ocr.serving.repository.plan import plan_serving
    from triton_ocr.serving.server.install import install_tritonserver, stub_python_bin
    from triton_ocr.serving.server.server_guard import build_server_guard

    if args.install:
        install = install_tritonserver(wheel_dir=args.wheel_dir)
        guard = build_server_guard(install.root)
        print(f"tritonserver in {install.root} (python stub environment: {stub_python_bin(install).parent}; "
              f"server guard {guard.name})")
        return 0

    config = load_config(args.pipeline)
    profile = get_profile(args.profile)
    if args.with_weights and not args.build_repo:
        raise ConfigError("--with-weights goes with --build-repo DIR")
    if args.build_repo:
        plan = plan_serving(config, profile, model_sets_argument(args.models, default=()))
        target = assemble_repository(args.build_repo, plan) if args.with_weights else write_render(args.build_repo, plan)
        print(f"model repository ({profile.name} profile{', weights linked' if args.with_weights else ''}) "
              f"written to {target}")
        return 0

    if args.no_triton and args.no_gateway:
        raise ConfigError("--no-triton and --no-gateway leave nothing to run")
    from triton_ocr.serving.server.launcher import TritonServer

    server = None if args.no_triton else TritonServer(
        config,
        profile,
        model_sets=model_sets_argument(args.models, default=None),
        repository=args.repository,
        host=args.triton_host,
        http=args.triton_http,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        metrics_port=args.metrics_port,
        log_to_console=True,
        wheel_dir=args.wheel_dir,
        health_interval_s=args.health_interval,
    )
    gateway = None
    signal.signal(signal.SIGTERM, interrupt)
    try:
        if server is not None:
            server.start()
            http = f", Triton HTTP {server.http_url}" if server.http else ""
            print(f"serving OCR: gRPC {server.grpc_url}{http} (Ctrl-C stops)", flush=True)
        if not args.no_gateway:
            gateway = start_gateway(args, server.grpc_url if server else args.triton_url)
            print(f"HTTP gateway: POST {gateway.url}/ocr", flush=True)
        while True:
            signal.pause()
    except KeyboardInterrupt:
        print("shutting down", flush=True)
    finally:
        if gateway is not None:
            gateway.stop()
        if server is not None:
            server.stop()
    return 0


def start_gateway(args: argparse.Namespace, triton_url: str | None):  # noqa: ANN201 - SupervisedGateway
    """The PaddleX-compatible HTTP gateway in a supervised process of its own, in front of ``triton_url``."""
    from triton_ocr.serving.server.gateway_process import SupervisedGateway

    if triton_url is None:
        raise ConfigError("--no-triton needs --triton-url grpc://HOST:PORT")
    from triton_ocr.serving.server.launcher import free_ports

    arguments = ["--engine", "triton", "--triton-url", triton_url, "--pipeline", str(args.pipeline)]
    port = args.port or free_ports(1)[0]  # free on loopback: the port the gateway then binds on --host
    return SupervisedGateway(args.host, port, arguments).start()
