"""``triton-ocr demo``: render a Chinese + English test image, OCR it, print and save the result."""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from triton_ocr.fonts import find_font

DEMO_LINES = ("Triton OCR 演示", "识别中文和英文 2026-11-25", "Total: ¥128.50", "PP-OCRv6 small")


def render_demo_image(path: Path) -> Path:
    """Write a 720×360 PNG with :data:`DEMO_LINES` in black on white, drawn with a CJK font."""
    font_path = find_font()
    image = Image.new("RGB", (720, 360), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(DEMO_LINES):
        font = ImageFont.truetype(str(font_path), 40) if font_path else ImageFont.load_default(40)
        draw.text((40, 30 + row * 80), line, fill=(0, 0, 0), font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", type=Path, help="OCR this image instead of the rendered one")
    parser.add_argument("--save_path", type=Path, default=Path("output"), help="where the result files go")
    parser.add_argument("--server", help="run on a Triton server (grpc://HOST:PORT)")


def run(args: argparse.Namespace) -> int:
    from triton_ocr.pipeline import create_pipeline

    source = args.input or render_demo_image(args.save_path / "demo.png")
    for result in create_pipeline("OCR", server=args.server).predict(str(source)):
        result.print()
        print(f"saved {result.save_to_json(args.save_path)} and {result.save_to_img(args.save_path)}")
    return 0
