"""Pictures of a result: boxes on the image, and the recognised text rendered beside it."""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from triton_ocr.fonts import find_font


@lru_cache(maxsize=64)
def _font(path: str | None, size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    if path is None:
        return ImageFont.load_default(size)
    return ImageFont.truetype(path, size)


def _colors(count: int) -> list[tuple[int, int, int]]:
    rng = random.Random(0)
    return [(rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255)) for _ in range(count)]


def draw_boxes(image_rgb: np.ndarray, polys: Sequence[np.ndarray]) -> Image.Image:
    """The image with each polygon filled translucently and outlined."""
    base = Image.fromarray(image_rgb).convert("RGB")
    overlay = base.copy()
    draw = ImageDraw.Draw(overlay)
    for poly, color in zip(polys, _colors(len(polys))):
        draw.polygon([tuple(p) for p in np.asarray(poly).tolist()], fill=color)
    blended = Image.blend(base, overlay, 0.5)
    outline = ImageDraw.Draw(blended)
    for poly, color in zip(polys, _colors(len(polys))):
        points = [tuple(p) for p in np.asarray(poly).tolist()]
        outline.line([*points, points[0]], fill=color, width=2)
    return blended


def draw_ocr_result(
    image_rgb: np.ndarray, polys: Sequence[np.ndarray], texts: Sequence[str], font_path: Path | None = None
) -> Image.Image:
    """Boxes on the image (left) and each text drawn at its box on a white canvas (right)."""
    font_file = font_path or find_font()
    font_name = str(font_file) if font_file else None
    left = draw_boxes(image_rgb, polys)
    right = Image.new("RGB", left.size, (255, 255, 255))
    draw = ImageDraw.Draw(right)
    for poly, text, color in zip(polys, texts, _colors(len(polys))):
        quad = np.asarray(poly, dtype=np.float32)
        points = [tuple(p) for p in quad.tolist()]
        draw.line([*points, points[0]], fill=color, width=1)
        box_w = float(np.linalg.norm(quad[0] - quad[1]))
        box_h = float(np.linalg.norm(quad[0] - quad[3]))
        if not text or box_w < 1 or box_h < 1:
            continue
        if box_h > 2 * box_w and len(text) > 1:
            size = max(int(box_w * 0.9), 8)
            font = _font(font_name, size)
            x, y = quad[0]
            for char in text:
                draw.text((x + 1, y), char, fill=(0, 0, 0), font=font)
                y += size
        else:
            size = max(min(int(box_h * 0.8), int(box_w / max(len(text), 1) * 1.8)), 8)
            draw.text(tuple(quad[0] + 1), text, fill=(0, 0, 0), font=_font(font_name, size))
    canvas = Image.new("RGB", (left.width * 2, left.height), (255, 255, 255))
    canvas.paste(left, (0, 0))
    canvas.paste(right, (left.width, 0))
    return canvas
