"""``triton-ocr serve``: run the supervised Triton server, or render the model repository.

    triton-ocr serve [--pipeline OCR.yaml] [--profile cpu|gpu] [--host 127.0.0.1] [--http-port 8000] ...
    triton-ocr serve --build-repo model_repository [--profile cpu|gpu] [--pipeline OCR.yaml]
"""

from __future__ import annotations

import argparse
import signal
from pathlib import Path
from typing import NoReturn

from triton_ocr.config import load_config
from triton_ocr.serving.profile import PROFILES, get_profile


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pipeline", default="OCR", help="'OCR' or a pipeline YAML (thresholds, sizes, models)")
    parser.add_argument("--profile", default="cpu", choices=sorted(PROFILES), help="serving profile")
    parser.add_argument("--build-repo", type=Path, metavar="DIR", help="only write the model repository to DIR")
    parser.add_argument("--repository", type=Path, help="serve this repository's configs instead of a fresh render")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 for every interface)")
    parser.add_argument("--http-port", type=int, default=8000)
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--metrics-port", type=int, default=8002)
    parser.add_argument("--wheel-dir", type=Path, help="folder holding the nvidia-pytriton wheel (offline machines)")
    parser.add_argument("--health-interval", type=float, default=2.0, help="seconds between health inferences")


def interrupt(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    from triton_ocr.serving.repository import build_repository

    config = load_config(args.pipeline)
    profile = get_profile(args.profile)
    if args.build_repo:
        print(f"model repository ({profile.name} profile) written to {build_repository(args.build_repo, config, profile)}")
        return 0

    from triton_ocr.serving.server import TritonServer

    server = TritonServer(
        config,
        profile,
        repository=args.repository,
        host=args.host,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        metrics_port=args.metrics_port,
        log_to_console=True,
        wheel_dir=args.wheel_dir,
        health_interval_s=args.health_interval,
    )
    signal.signal(signal.SIGTERM, interrupt)
    try:
        server.start()
        print(f"serving OCR: gRPC {server.grpc_url}, HTTP {server.http_url} (Ctrl-C stops)", flush=True)
        while True:
            signal.pause()
    except KeyboardInterrupt:
        print("shutting down", flush=True)
    finally:
        server.stop()
    return 0
