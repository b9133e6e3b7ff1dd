"""The health probe: a small image with one text line, which passes every model (the recogniser included), sent
to each public entry of the repository (:data:`triton_ocr.contract.ENTRIES`)."""

from __future__ import annotations

import io
from functools import cache

import cv2
import numpy as np

from triton_ocr import contract


@cache
def probe_image() -> bytes:
    """A 320×64 PNG reading ``OCR 2051``."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (320, 64), "white")
    ImageDraw.Draw(image).text((16, 12), "OCR 2051", fill="black", font=ImageFont.load_default(36))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def probe_inputs(entry: contract.Entry) -> dict[str, np.ndarray]:
    """The probe as ``entry``'s image input: the encoded file, or its BGR pixels."""
    data = probe_image()
    if entry.encoded:
        return {entry.image.name: np.array([data], dtype=np.object_)}
    return {entry.image.name: cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)}
