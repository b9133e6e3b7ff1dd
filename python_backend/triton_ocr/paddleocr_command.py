"""``triton-ocr ocr -i INPUT ...``: PaddleOCR 3.x's ``paddleocr ocr`` with its flags, on
:class:`~triton_ocr.paddleocr_compat.PaddleOCR`.

    triton-ocr ocr -i page.png --use_doc_orientation_classify False --use_doc_unwarping False \\
        --use_textline_orientation True --lang en --save_path ./output
"""

from __future__ import annotations

import argparse
from typing import Any

from triton_ocr.cli import bool_flag, check_device_flag, device_flag, paddlex_flag_type, run_inputs
from triton_ocr.paddleocr_compat import DEPRECATED_NAMES, PAGE_CLASSIFIERS, UNAVAILABLE
from triton_ocr.paddlex_compat import CONSTRUCTOR_NAMES

SHAPES = ("text_det_input_shape", "text_rec_input_shape")
OWN_FLAGS = ("lang", "ocr_version", "cpu_threads", "precision", "paddlex_config", *PAGE_CLASSIFIERS, *SHAPES,
             *(name for name in UNAVAILABLE if name not in SHAPES))
"""The ``PaddleOCR`` parameters beyond PaddleX's pipeline parameters."""


def flag_type(name: str) -> Any:
    """A flag's argparse type: PaddleX's parameter's, or the 2.x alias's 3.x name's."""
    name = DEPRECATED_NAMES.get(name, name)
    if name in ("enable_hpi", "use_tensorrt", "enable_mkldnn", "enable_cinn"):
        return bool_flag
    if name in ("cpu_threads", "mkldnn_cache_capacity"):
        return int
    return paddlex_flag_type(name) if name in CONSTRUCTOR_NAMES else str


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-i", "--input", required=True, help="image or PDF: path, URL or directory")
    parser.add_argument("--save_path", help="folder for <name>_ocr.json and <name>_ocr.png")
    parser.add_argument("--device", type=device_flag, help="cpu (default), gpu or gpu:N")
    parser.add_argument("--server", help="run on a Triton server: grpc://HOST:PORT or http://HOST:PORT")
    parser.add_argument("--quiet", action="store_true", help="do not print results")
    group = parser.add_argument_group("PaddleOCR 3.x parameters (left out: PaddleOCR's defaults)")
    for name in [*CONSTRUCTOR_NAMES, *OWN_FLAGS]:
        if name in SHAPES:
            group.add_argument(f"--{name}", nargs=3, type=int, metavar=("C", "H", "W"))
        else:
            group.add_argument(f"--{name}", type=flag_type(name), metavar="VALUE")
    deprecated = parser.add_argument_group("PaddleOCR 2.x names (deprecated, with PaddleOCR's warning)")
    for old, new in DEPRECATED_NAMES.items():
        deprecated.add_argument(f"--{old}", type=flag_type(old), metavar="VALUE", help=f"use --{new}")


def run(args: argparse.Namespace) -> int:
    from triton_ocr.paddleocr_compat import PaddleOCR

    check_device_flag(args)
    names = [*CONSTRUCTOR_NAMES, *OWN_FLAGS, *DEPRECATED_NAMES]
    params = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    return run_inputs(PaddleOCR(device=args.device, server=args.server, **params), args)
