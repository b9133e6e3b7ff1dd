"""Builders of test images: rendered text with known content, and hostile files."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Sequence

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from triton_ocr.fonts import find_font


def render_lines(
    lines: Sequence[str], size: tuple[int, int] = (800, 400), font_size: int = 36, origin: tuple[int, int] = (30, 30),
    line_gap: int = 70,
) -> np.ndarray:
    """A white BGR uint8 image with ``lines`` drawn in black, one under the other, in a CJK-capable font."""
    font_path = find_font()
    if font_path is None:
        pytest.fail("no CJK font: run scripts/setup.sh (or `triton-ocr models fetch`)")
    font = ImageFont.truetype(str(font_path), font_size)
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(lines):
        draw.text((origin[0], origin[1] + row * line_gap), line, fill=(0, 0, 0), font=font)
    return np.ascontiguousarray(np.asarray(image)[:, :, ::-1])


def png_header(width: int, height: int) -> bytes:
    """A PNG claiming ``width``×``height`` RGB pixels whose data holds one compressed row: a decompression bomb
    in form, tiny on the wire."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * min(width * 3 + 1, 1 << 16))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def encode(image_bgr: np.ndarray, fmt: str = "PNG") -> bytes:
    """BGR uint8 array → encoded bytes in ``fmt``."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image_bgr[:, :, ::-1])).save(buffer, format=fmt)
    return buffer.getvalue()


def word_grid(rows: int, cols: int, cell: tuple[int, int] = (70, 36), font_size: int = 20) -> tuple[np.ndarray, list[str]]:
    """A BGR image with ``rows × cols`` distinct increasing numbers (from 1000) on a grid, in reading order."""
    font = ImageFont.truetype(str(find_font()), font_size)
    image = Image.new("RGB", (cols * cell[0] + 20, rows * cell[1] + 20), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    words = []
    for r in range(rows):
        for c in range(cols):
            word = str(1000 + r * cols + c)
            draw.text((10 + c * cell[0], 10 + r * cell[1]), word, fill=(0, 0, 0), font=font)
            words.append(word)
    return np.ascontiguousarray(np.asarray(image)[:, :, ::-1]), words


def pdf_from_images(pages: Sequence[np.ndarray]) -> bytes:
    """A PDF with one page per BGR image, each page the image's size in points (72 dpi)."""
    images = [Image.fromarray(np.ascontiguousarray(page[:, :, ::-1])) for page in pages]
    buffer = io.BytesIO()
    images[0].save(buffer, format="PDF", save_all=True, append_images=images[1:], resolution=72)
    return buffer.getvalue()


def raw_pdf(width: float = 200, height: float = 100, encrypted: bool = False) -> bytes:
    """A hand-written one-page PDF of ``width``×``height`` points with no content; ``encrypted``: with a standard
    security handler whose user password is not empty (readers ask for a password)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width} {height}] >>".encode(),
    ]
    if encrypted:
        filler = "ab" * 32
        objects.append(f"<< /Filter /Standard /V 1 /R 2 /O <{filler}> /U <{filler}> /P -4 >>".encode())
    body, offsets = b"%PDF-1.4\n", []
    for number, payload in enumerate(objects, start=1):
        offsets.append(len(body))
        body += f"{number} 0 obj\n".encode() + payload + b"\nendobj\n"
    xref = len(body)
    body += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    body += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    extra = f" /Encrypt {len(objects)} 0 R /ID [<{'01' * 16}> <{'01' * 16}>]" if encrypted else ""
    body += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{extra} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return body
