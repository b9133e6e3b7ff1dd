"""``triton-ocr``: PaddleX-style pipeline flags, plus subcommands.

    triton-ocr --pipeline OCR --input PATH|URL|DIR [--save_path DIR] [--server grpc://127.0.0.1:8001]
               [--use_textline_orientation False --text_det_thresh 0.3 ...: PaddleX 3.x's pipeline parameters]
    triton-ocr --serve --pipeline OCR [--port 8080]: PaddleX's --serve, the same as `triton-ocr serve`
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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import yaml

from triton_ocr.errors import ConfigError, OCRError

if TYPE_CHECKING:
    from triton_ocr.result import OCRResult

SUBCOMMANDS = {
    "ocr": ("triton_ocr.paddleocr_command", "PaddleOCR 3.x's `paddleocr ocr -i INPUT` with its flags"),
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


BOOLEANS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}


def bool_flag(value: str) -> bool:
    """PaddleX's boolean flags: ``--use_textline_orientation False`` (true/false, 1/0, yes/no, on/off)."""
    try:
        return BOOLEANS[value.strip().lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(f"{value!r}: use True or False") from None


def paddlex_flag_type(name: str) -> Callable[[str], Any]:
    """The argparse type of the PaddleX 3.x parameter ``name``: that of its config field."""
    from triton_ocr.config import OCRConfig
    from triton_ocr.paddlex_compat import PIPELINE_PARAMS

    if name.startswith(("use_", "return_")):
        return bool_flag
    section, field = PIPELINE_PARAMS[name]
    default = getattr(getattr(OCRConfig(), section), field) if field else None
    return type(default) if isinstance(default, (int, float)) and not isinstance(default, bool) else str


def add_paddlex_params(parser: argparse.ArgumentParser) -> None:
    """PaddleX 3.x's pipeline parameters as flags (``--text_det_thresh 0.3``, ``--use_textline_orientation False``),
    passed to ``create_pipeline`` as its keyword arguments."""
    from triton_ocr.paddlex_compat import CONSTRUCTOR_NAMES

    group = parser.add_argument_group("PaddleX 3.x pipeline parameters (left out: the pipeline config's)")
    for name in CONSTRUCTOR_NAMES:
        group.add_argument(f"--{name}", type=paddlex_flag_type(name), default=None, metavar="VALUE")


def paddlex_params(args: argparse.Namespace) -> dict[str, Any]:
    """The PaddleX 3.x parameters given on the command line."""
    from triton_ocr.paddlex_compat import CONSTRUCTOR_NAMES

    return {name: getattr(args, name) for name in CONSTRUCTOR_NAMES if getattr(args, name) is not None}


def pipeline_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="triton-ocr",
        description="PP-OCR text detection + recognition (PP-OCRv4/v5/v6 model sets). Subcommands: "
        + ", ".join(f"{k} ({v[1]})" for k, v in SUBCOMMANDS.items()),
        allow_abbrev=False,  # --serve is not --server
    )
    parser.add_argument("--pipeline", default="OCR", help="'OCR' or a pipeline YAML")
    parser.add_argument("--model_set", help="the models to read with, e.g. PP-OCRv6_small (`triton-ocr models list`)")
    parser.add_argument("-i", "--input",
                        help="image or PDF: path, URL or directory (default: a PaddleX file's Global.input)")
    parser.add_argument("--device", type=device_flag,
                        help="cpu (default), gpu or gpu:N: a GPU runs the torch engine (the torch extra)")
    parser.add_argument("--save_path", help="folder for <name>_ocr.json and <name>_ocr.png")
    parser.add_argument("--server", help="run on a Triton server: grpc://HOST:PORT or http://HOST:PORT")
    parser.add_argument("--get_pipeline_config", metavar="NAME", help="write the pipeline YAML (OCR.yaml)")
    parser.add_argument("--quiet", action="store_true", help="do not print results")
    parser.add_argument("--serve", action="store_true",
                        help="PaddleX's `--serve`: run the service (Triton + the HTTP gateway) as `triton-ocr serve` "
                        "does, with --pipeline, --host and --port")
    parser.add_argument("--host", help="with --serve: the gateway's address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="with --serve: the gateway's port (default 8080)")
    add_paddlex_params(parser)
    return parser


SERVE_FLAGS = ("pipeline", "host", "port", "device", "serve")
"""What ``--serve`` takes; ``triton-ocr serve --help`` has the rest."""


def serve_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[str]:
    """``triton-ocr --serve ...`` as the ``serve`` subcommand's arguments; another flag is a usage error naming it."""
    given = [name for name, value in vars(args).items()
             if name not in SERVE_FLAGS and value not in (None, False) and value != parser.get_default(name)]
    if given:
        parser.error(f"--serve takes --pipeline, --host and --port; not {', '.join('--' + n for n in given)} "
                     "(the pipeline YAML holds the parameters; `triton-ocr serve --help` has the serving flags)")
    if args.device not in (None, "cpu"):
        parser.error(f"--serve --device {args.device}: run `triton-ocr serve --profile gpu` to serve on GPUs")
    command = ["--pipeline", args.pipeline]
    command += ["--host", args.host] if args.host else []
    command += ["--port", str(args.port)] if args.port is not None else []
    return command


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
    from triton_ocr.pipeline import create_pipeline

    check_device_flag(args)
    pipeline = create_pipeline(args.pipeline, device=args.device, server=args.server, model_set=args.model_set,
                               **paddlex_params(args))
    return run_inputs(pipeline, args)


def run_inputs(pipeline: Any, args: argparse.Namespace) -> int:
    """Every image (every PDF page) of ``args.input`` through ``pipeline.predict``: each result printed (unless
    ``args.quiet``) and saved (with ``args.save_path``); the exit status (:data:`EXIT_SOME_FAILED`, ...)."""
    from tqdm import tqdm

    from triton_ocr.inputs import count_inputs, iter_inputs

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
        if args.serve:
            return main(["serve", *serve_command(args, parser)])
        if args.host is not None or args.port is not None:
            parser.error("--host and --port go with --serve")
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
