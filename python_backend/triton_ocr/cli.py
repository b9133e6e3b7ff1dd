"""``triton-ocr``: PaddleX-style pipeline flags, plus subcommands.

    triton-ocr --pipeline OCR --input PATH|URL|DIR [--save_path DIR] [--server grpc://127.0.0.1:8001]
    triton-ocr --get_pipeline_config OCR [--save_path DIR]
    triton-ocr models fetch|list
    triton-ocr demo | eval | serve | gateway | bench | loadtest ...

Each subcommand lives in its own module exposing ``configure(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from triton_ocr.errors import ConfigError, OCRError

if TYPE_CHECKING:
    from triton_ocr.result import OCRResult

SUBCOMMANDS = {
    "models": ("triton_ocr.models.command", "fetch or list models"),
    "demo": ("triton_ocr.demo", "render a demo image and OCR it"),
    "eval": ("triton_ocr.eval.command", "accuracy and speed on labelled datasets"),
    "serve": ("triton_ocr.serving.server.command", "run the Triton server (and the HTTP gateway)"),
    "gateway": ("triton_ocr.gateway.command", "run only the PaddleX-compatible HTTP gateway"),
    "bench": ("triton_ocr.bench.command", "side-by-side throughput benchmark"),
    "loadtest": ("triton_ocr.bench.loadtest_command", "locust load tests against Triton and the gateway"),
    "soak": ("triton_ocr.bench.soak", "bounded soak test: mixed good and hostile input, stub kills, RSS over time"),
}


DEVICE = re.compile(r"cpu|gpu(:\d+)?")


def device_flag(value: str) -> str:
    """``--device``: ``cpu``, ``gpu`` or ``gpu:N`` (anything else is argparse's usage error naming the flag)."""
    device = value.strip().lower()
    if DEVICE.fullmatch(device) is None:
        raise argparse.ArgumentTypeError(f"{value!r}: use cpu, gpu or gpu:N")
    return device


def check_device_flag(args: argparse.Namespace) -> None:
    """``--device`` against ``--server`` and this machine's GPUs before the pipeline is built, so that the messages
    name the flags (the library's name ``device=``)."""
    if args.device in (None, "cpu"):
        return
    if args.server:
        raise ConfigError(f"--device {args.device} runs models in this process; with --server the server's serving "
                          "profile places them (triton-ocr serve --profile gpu): leave --device out")
    from triton_ocr.engine.torch_engine import torch_device

    torch_device(args.device, setting="--device")


def pipeline_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="triton-ocr",
        description="PP-OCRv4 OCR. Subcommands: " + ", ".join(f"{k} ({v[1]})" for k, v in SUBCOMMANDS.items()),
    )
    parser.add_argument("--pipeline", default="OCR", help="'OCR' or a pipeline YAML")
    parser.add_argument("--model_set", help="the models to read with, e.g. PP-OCRv6_small (`triton-ocr models list`)")
    parser.add_argument("--input", help="image or PDF: path, URL or directory (default: a PaddleX file's Global.input)")
    parser.add_argument("--device", type=device_flag,
                        help="cpu (default), gpu or gpu:N: a GPU runs the torch engine (the torch extra)")
    parser.add_argument("--save_path", help="folder for <name>_ocr.json and <name>_ocr.png")
    parser.add_argument("--server", help="run on a Triton server: grpc://HOST:PORT or http://HOST:PORT")
    parser.add_argument("--get_pipeline_config", metavar="NAME", help="write the pipeline YAML (OCR.yaml)")
    parser.add_argument("--quiet", action="store_true", help="do not print results")
    return parser


EXIT_SOME_FAILED = 1
"""Several inputs, and at least one of them failed (each failure has its line on stderr; the others ran)."""
EXIT_BAD_INPUT = 2
"""Bad command line, pipeline config or input: the only input failed, a folder holds nothing to read."""
EXIT_UNREACHABLE = 3
"""The Triton server (``--server``) could not be reached."""


def emit(result: OCRResult, args: argparse.Namespace) -> None:
    if not args.quiet:
        result.print()
    if args.save_path:
        result.save_to_json(args.save_path)
        result.save_to_img(args.save_path)


def run_pipeline(args: argparse.Namespace) -> int:
    """OCR every image (every PDF page) of ``--input``; an input that fails is reported on stderr and the rest still
    run. An unreachable server stops the run at once."""
    from tqdm import tqdm

    from triton_ocr.inputs import count_inputs, iter_inputs
    from triton_ocr.pipeline import create_pipeline

    check_device_flag(args)
    pipeline = create_pipeline(args.pipeline, device=args.device, server=args.server, model_set=args.model_set)
    total = count_inputs(args.input)
    items = iter_inputs(args.input)
    if total is not None and total > 1:
        items = tqdm(items, total=total, unit="file", file=sys.stderr)
    failures = inputs = 0
    for input_path, source in items:
        inputs += 1
        try:
            for result in pipeline.predict({"img": source}):
                result["input_path"] = input_path
                emit(result, args)
        except ConnectionError as exc:
            print(f"triton-ocr: error: cannot reach the server {args.server}: {exc}", file=sys.stderr)
            return EXIT_UNREACHABLE
        except OCRError as exc:
            failures += 1
            print(f"triton-ocr: error: {input_path or 'input'}: {exc}", file=sys.stderr)
    if failures:
        return EXIT_BAD_INPUT if inputs == 1 else EXIT_SOME_FAILED
    return 0


PIPELINE_CONFIG_HEADER = (
    "# The {model_set} pipeline: every field below is explicit, so it wins over the model set's settings.\n"
    "# For another set, write a new file: triton-ocr --get_pipeline_config OCR --model_set NAME\n"
)


def write_pipeline_config(args: argparse.Namespace) -> int:
    from triton_ocr.config import load_config
    from triton_ocr.models.registry import with_model_settings

    config = load_config(args.get_pipeline_config)
    if args.model_set:
        config = config.with_overrides(model_set=args.model_set)
    text = PIPELINE_CONFIG_HEADER.format(model_set=config.model_set) + with_model_settings(config).to_yaml()
    if args.save_path:
        target = Path(args.save_path)
        if target.suffix.lower() not in (".yaml", ".yml"):
            target.mkdir(parents=True, exist_ok=True)
            target = target / "OCR.yaml"
        target.write_text(text, encoding="utf-8")
        print(f"pipeline config written to {target}")
    else:
        print(text, end="")
    return 0


def pipeline_file_input(pipeline: str) -> str | None:
    """``Global.input`` of a PaddleX 2.x / 3.0-beta pipeline file, the input when ``--input`` is not given."""
    from triton_ocr.paddlex_compat import file_default_input

    path = Path(pipeline)
    if pipeline == "OCR" or not path.is_file():
        return None
    try:
        return file_default_input(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError):
        return None  # create_pipeline reports the file's problem


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if argv and argv[0] in SUBCOMMANDS:
            module_name, help_text = SUBCOMMANDS[argv[0]]
            module = importlib.import_module(module_name)
            parser = argparse.ArgumentParser(prog=f"triton-ocr {argv[0]}", description=help_text)
            module.configure(parser)
            return module.run(parser.parse_args(argv[1:]))
        parser = pipeline_parser()
        args = parser.parse_args(argv)
        if args.get_pipeline_config:
            return write_pipeline_config(args)
        args.input = args.input or pipeline_file_input(args.pipeline)
        if not args.input:
            parser.error("--input is required (or --get_pipeline_config, or a subcommand)")
        return run_pipeline(args)
    except OCRError as exc:
        print(f"triton-ocr: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
