"""The request's ``image`` field → image bytes and pixels, and the result picture → base64 JPEG.

The CPU-heavy functions here (base64, decoding, drawing) are plain functions the app runs in its thread pool.
Decoding is :func:`triton_ocr.steps.image_loading.decode_image`: kind sniffed from the content, pixel limit
checked on the header before any decompression, the same checks and messages as the in-process pipeline.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from collections.abc import Sequence
from typing import Literal

import cv2
import numpy as np

from triton_ocr.config import ImageConfig
from triton_ocr.errors import InvalidImageError
from triton_ocr.gateway.fetch import URLRefusedError
from triton_ocr.steps.image_loading import decode_image, open_image
from triton_ocr.visualize import draw_boxes

SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]{0,31}")
URL_SAFE = str.maketrans("-_", "+/")


def classify_image_field(value: str) -> tuple[Literal["url", "base64"], str]:
    """``("url", url)`` for an http(s) URL, ``("base64", data)`` for base64 (a ``data:...;base64,`` prefix is
    dropped); any other scheme is refused. Base64 has no ``:``, so a scheme is never mistaken for data."""
    scheme, colon, _ = value[:64].lstrip().partition(":")
    if not colon or not SCHEME.fullmatch(scheme):
        return "base64", value
    scheme = scheme.lower()
    if scheme in ("http", "https"):
        return "url", value.strip()
    if scheme == "data":
        comma = value.find(",", 0, 4096)
        if comma < 0 or not value[:comma].rstrip().lower().endswith(";base64"):
            raise InvalidImageError("a data: URL must be base64 (data:image/png;base64,...)")
        return "base64", value[comma + 1 :]
    raise URLRefusedError(f"URL scheme {scheme!r} is not allowed: only http and https (or base64 data)")


def decode_base64(text: str) -> bytes:
    """Standard or URL-safe base64; line breaks, spaces and missing padding are tolerated."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    compact = "".join(text.split()).translate(URL_SAFE)
    compact += "=" * (-len(compact) % 4)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidImageError(f"neither valid base64 nor an http(s) URL ({exc})") from None


def image_data(data: bytes, limits: ImageConfig, pixels: bool) -> tuple[bytes, np.ndarray | None]:
    """(the image file's bytes, its BGR uint8 pixels (H, W, 3)) — without ``pixels``, only the file's header is
    checked and the pixels are ``None``: the backend decodes (Triton's ``det_preprocess`` does)."""
    if pixels:
        return data, decode_image(data, limits)
    open_image(data, limits)
    return data, None


def decode_base64_image(text: str, limits: ImageConfig, pixels: bool = True) -> tuple[bytes, np.ndarray | None]:
    """Base64 text → :func:`image_data`."""
    return image_data(decode_base64(text), limits, pixels)


def downscaled(
    image_bgr: np.ndarray, polys: Sequence[np.ndarray], max_side: int
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The picture to draw on: ``image_bgr`` (H, W, 3) and ``polys`` (each (4, 2) in its pixels) as they are, or,
    when the long side exceeds ``max_side``, both scaled so that it is ``max_side`` (drawing and JPEG-encoding a
    40 MP image would cost the gateway hundreds of MB)."""
    scale = max_side / max(image_bgr.shape[:2])
    if scale >= 1:
        return image_bgr, [np.asarray(poly) for poly in polys]
    size = (max(round(image_bgr.shape[1] * scale), 1), max(round(image_bgr.shape[0] * scale), 1))
    small = cv2.resize(image_bgr, size, interpolation=cv2.INTER_AREA)
    return small, [np.asarray(poly, np.float32) * scale for poly in polys]


def picture_base64(image_bgr: np.ndarray, polys: Sequence[np.ndarray], quality: int, max_side: int) -> str:
    """The image with ``polys`` drawn (:func:`triton_ocr.visualize.draw_boxes`) as base64 JPEG, at most
    ``max_side`` pixels on its long side (:func:`downscaled`)."""
    image_bgr, polys = downscaled(image_bgr, polys, max_side)
    picture = draw_boxes(np.ascontiguousarray(image_bgr[:, :, ::-1]), polys)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=quality)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
