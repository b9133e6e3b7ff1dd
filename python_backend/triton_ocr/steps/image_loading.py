"""Step 1: any input (bytes, path, URL, array) → a BGR ``uint8`` array of shape (H, W, 3).

The models were trained on OpenCV's BGR channel order, so every later step takes BGR. Files are opened with Pillow
so that the kind of file is sniffed from its content (not its name) and the header is checked against the pixel
limit before any pixel is decompressed; plain JPEGs are then decoded by OpenCV (the same pixels, fewer copies), the
rest by Pillow. EXIF orientation is applied either way.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from triton_ocr.config import ImageConfig
from triton_ocr.errors import (
    ImageFetchError,
    ImageTooLargeError,
    ImageTooSmallError,
    InputNotFoundError,
    InvalidImageError,
)
from triton_ocr.steps.pdf_pages import is_pdf
from triton_ocr.steps.pdf_worker import pdf_pages

ImageSource = bytes | bytearray | memoryview | str | Path | np.ndarray

# Our own limit is checked first; Pillow's bomb guard stays as a second line of defence.
Image.MAX_IMAGE_PIXELS = None


def is_url(source: object) -> bool:
    return isinstance(source, str) and source.split("://", 1)[0].lower() in ("http", "https")


def load_image(source: ImageSource, limits: ImageConfig = ImageConfig()) -> np.ndarray:
    """Decode ``source`` into a BGR ``uint8`` array (H, W, 3) that respects ``limits``."""
    if isinstance(source, np.ndarray):
        return check_size(to_bgr(source), limits)
    return decode_image(read_bytes(source, limits), limits)


def read_bytes(source: ImageSource, limits: ImageConfig = ImageConfig()) -> bytes:
    """The encoded file behind bytes, a path or a URL (read or downloaded within ``limits.max_bytes``)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if is_url(source):
        return fetch_url(str(source), limits)
    if isinstance(source, (str, Path)):
        return read_file(Path(source), limits)
    raise InvalidImageError(f"unsupported input type {type(source).__name__}: give bytes, a path, a URL or an array")


def split_pages(
    source: ImageSource, limits: ImageConfig = ImageConfig(), name: str | None = None
) -> Iterator[tuple[int | None, ImageSource]]:
    """A PDF → ``(page_index, BGR page)`` per page; anything else → ``(None, source)`` unchanged (not decoded):
    what a client that sends encoded images sends, page by page."""
    if isinstance(source, np.ndarray):
        yield None, source
        return
    data = read_bytes(source, limits)
    if is_pdf(data):
        yield from enumerate(pdf_pages(data, limits, name or "the PDF"))
    else:
        yield None, data


def load_pages(
    source: ImageSource, limits: ImageConfig = ImageConfig(), name: str | None = None
) -> Iterator[tuple[int | None, np.ndarray]]:
    """``(page_index, BGR uint8 (H, W, 3))`` for each page of a PDF (see :mod:`~triton_ocr.steps.pdf_pages`), or
    ``(None, image)`` once for an image; ``name`` names the input in messages."""
    for page_index, page in split_pages(source, limits, name):
        yield page_index, load_image(page, limits)


def read_file(path: Path, limits: ImageConfig) -> bytes:
    if not path.is_file():
        raise InputNotFoundError(f"no such image file: {path}")
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise ImageTooLargeError(f"{path} is {size} bytes; the limit is {limits.max_bytes}")
    return path.read_bytes()


def fetch_url(url: str, limits: ImageConfig) -> bytes:
    """Download ``url`` (http/https) with time-outs and a size cap."""
    if not is_url(url):
        raise ImageFetchError(f"only http and https URLs are accepted, got {url!r}")
    try:
        with httpx.stream("GET", url, timeout=limits.url_timeout_s, follow_redirects=True) as response:
            response.raise_for_status()
            chunks, total = [], 0
            for chunk in response.iter_bytes():
                total += len(chunk)
                if total > limits.max_bytes:
                    raise ImageTooLargeError(f"{url} is larger than {limits.max_bytes} bytes")
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise ImageFetchError(f"cannot download {url}: {exc}") from exc
    return b"".join(chunks)


def open_image(data: bytes, limits: ImageConfig = ImageConfig()) -> Image.Image:
    """Check encoded image bytes without decoding the pixels: not empty, within the byte and pixel limits, a
    format Pillow reads (the header only; a file damaged further on fails when decoded)."""
    if not data:
        raise InvalidImageError("the image is empty (0 bytes)")
    if len(data) > limits.max_bytes:
        raise ImageTooLargeError(f"the image is {len(data)} bytes; the limit is {limits.max_bytes}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            check_dimensions(image.width, image.height, limits)
            return image
    except UnidentifiedImageError as exc:
        raise InvalidImageError("cannot decode the image: not a known image format") from exc
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as exc:
        if isinstance(exc, InvalidImageError):
            raise
        raise InvalidImageError(f"cannot decode the image: {exc}") from exc


def decode_image(data: bytes, limits: ImageConfig = ImageConfig()) -> np.ndarray:
    """Decode encoded image bytes (any format Pillow reads) into BGR ``uint8`` (H, W, 3)."""
    image = open_image(data, limits)
    if is_plain_jpeg(image, data):
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if decoded is not None:
            return decoded
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            rgb = pil_to_array(ImageOps.exif_transpose(image))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as exc:
        if isinstance(exc, InvalidImageError):
            raise
        raise InvalidImageError(f"cannot decode the image: {exc}") from exc
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def is_plain_jpeg(image: Image.Image, data: bytes) -> bool:
    """Whether OpenCV decodes ``data`` to the same pixels as Pillow, in one pass: a complete (ends with its EOI
    marker; a cut file goes to Pillow, which refuses it) colour or gray JPEG. Both decode with libjpeg-turbo and turn
    the image by its EXIF orientation, but Pillow copies a decoded page three times on the way to an array: a 35 MP
    scan took 338 ms through Pillow, 79 through OpenCV, a 2 MP page 9.5 against 5.3 (docs/performance.md)."""
    return image.format == "JPEG" and image.mode in ("RGB", "L") and data.endswith(b"\xff\xd9")


def composite_alpha(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Colour uint8 (H, W, 3) (either channel order) and its opacity uint8 (H, W) → uint8 (H, W, 3) over a background
    that contrasts with what is opaque: black where the opaque pixels' mean colour (weighted by opacity) is light
    (mean over the channels > 127.5) — white text on a transparent background stays readable —, else white. An
    image opaque throughout comes back as it is (a 0.7 MP RGBA page: 0.3 ms instead of 17)."""
    if alpha.size and int(alpha.min()) == 255:  # opaque throughout (many screenshots): nothing to composite
        return np.ascontiguousarray(color)
    weight = alpha.astype(np.float32)[..., None] / 255.0
    total = float(weight.sum())
    light = total > 0 and float((color * weight).sum()) / (3 * total) > 127.5
    background = 0.0 if light else 255.0
    return np.clip(color * weight + background * (1.0 - weight) + 0.5, 0, 255).astype(np.uint8)


def pil_to_array(image: Image.Image) -> np.ndarray:
    """Pillow image of any mode → RGB ``uint8`` (H, W, 3); alpha is composited (:func:`composite_alpha`)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        peak = values.max() if values.size else 0
        scale = 255.0 / 65535.0 if peak > 255 else 1.0
        gray = np.clip(values * scale, 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = np.asarray(image.convert("RGBA"))
        return composite_alpha(rgba[..., :3], rgba[..., 3])
    return np.asarray(image.convert("RGB"))


def to_bgr(array: np.ndarray) -> np.ndarray:
    """An array image (gray (H, W) or (H, W, 1), gray + alpha (H, W, 2), BGR, BGRA; uint8 or uint16) → contiguous
    BGR ``uint8`` (H, W, 3); alpha is composited as for files (:func:`composite_alpha`).

    Arrays given by callers are taken as OpenCV-style BGR, as PaddleX and RapidOCR take them.
    """
    if array.dtype == np.uint16:
        array = (array >> 8).astype(np.uint8)
    elif array.dtype != np.uint8:
        if array.dtype.kind == "f" and array.size and float(np.nanmax(array)) <= 1.0:
            array = array * 255.0
        array = np.clip(np.nan_to_num(array), 0, 255).astype(np.uint8)
    if array.ndim == 2:
        return cv2.cvtColor(array, cv2.COLOR_GRAY2BGR)
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise InvalidImageError(
            f"an image array must be (H, W), (H, W, 1), (H, W, 2) (gray + alpha), (H, W, 3) or (H, W, 4); got "
            f"{array.shape}"
        )
    if array.shape[2] == 1:
        return cv2.cvtColor(array, cv2.COLOR_GRAY2BGR)
    if array.shape[2] in (2, 4):
        color = np.repeat(array[..., :1], 3, axis=2) if array.shape[2] == 2 else array[..., :3]
        return composite_alpha(color, array[..., -1])
    return np.ascontiguousarray(array)


def check_dimensions(width: int, height: int, limits: ImageConfig) -> None:
    if width * height > limits.max_pixels:
        raise ImageTooLargeError(
            f"the image is {width}×{height} = {width * height} pixels; the limit is {limits.max_pixels}"
        )
    if min(width, height) < limits.min_side:
        raise ImageTooSmallError(f"the image is {width}×{height} pixels; each side must be ≥ {limits.min_side}")


def check_size(image: np.ndarray, limits: ImageConfig) -> np.ndarray:
    check_dimensions(image.shape[1], image.shape[0], limits)
    return image

