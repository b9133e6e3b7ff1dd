"""Step 1 for documents: PDF bytes → one BGR ``uint8`` image (H, W, 3) per page, rendered by PDFium (pypdfium2).

Pages render at ``image.pdf_dpi`` (144 by default: 2 pixels per PDF point, as PaddleX renders them); only the
first ``image.pdf_max_pages`` pages are read (10, PaddleX's cap), with a warning naming how many were left out; a
page whose rendering would exceed ``image.max_pixels`` is refused before it is rendered. PDFium is not
thread-safe, so every call into it holds one process-wide lock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from triton_ocr.config import ImageConfig
from triton_ocr.errors import ImageTooLargeError, InvalidImageError

log = logging.getLogger(__name__)

PDF_MAGIC = b"%PDF-"
_PDFIUM = threading.Lock()


def is_pdf(data: bytes) -> bool:
    """Whether ``data`` is a PDF file (its header, which PDF readers accept within the first 1024 bytes)."""
    return PDF_MAGIC in bytes(data[:1024])


@dataclass(frozen=True)
class PdfInfo:
    """A PDF's page count and the pixel size (width, height) of each page that will be read."""

    num_pages: int
    page_sizes: list[tuple[int, int]]


def open_pdf(data: bytes, name: str):  # noqa: ANN201 - pypdfium2.PdfDocument, imported lazily
    """Open PDF bytes; an encrypted or damaged file is an :class:`InvalidImageError` that says which."""
    import pypdfium2 as pdfium

    try:
        with _PDFIUM:
            return pdfium.PdfDocument(bytes(data))
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise InvalidImageError(f"{name} is encrypted (password-protected); send it decrypted") from exc
        raise InvalidImageError(f"{name} is damaged or not a PDF: {exc}") from exc


def page_size(document, index: int, dpi: int) -> tuple[int, int]:  # noqa: ANN001 - pypdfium2.PdfDocument
    """Pixel (width, height) of page ``index`` at ``dpi``."""
    with _PDFIUM:
        width, height = document[index].get_size()
    return max(1, round(width * dpi / 72)), max(1, round(height * dpi / 72))


def pdf_info(data: bytes, limits: ImageConfig, name: str = "the PDF") -> PdfInfo:
    """Page count and the size of each page that :func:`pdf_pages` reads (no page is rendered)."""
    document = open_pdf(data, name)
    try:
        count = len(document)
        sizes = [page_size(document, i, limits.pdf_dpi) for i in range(min(count, limits.pdf_max_pages))]
    finally:
        with _PDFIUM:
            document.close()
    return PdfInfo(count, sizes)


def render_page(document, index: int, limits: ImageConfig, name: str) -> np.ndarray:  # noqa: ANN001
    """Page ``index`` → BGR uint8 (H, W, 3), after checking its pixel count against ``limits.max_pixels``."""
    width, height = page_size(document, index, limits.pdf_dpi)
    if width * height > limits.max_pixels:
        raise ImageTooLargeError(
            f"{name} page {index + 1} would render at {width}×{height} = {width * height} pixels "
            f"({limits.pdf_dpi} dpi); the limit is {limits.max_pixels}"
        )
    with _PDFIUM:
        page = document[index]
        bitmap = page.render(scale=limits.pdf_dpi / 72, fill_color=(255, 255, 255, 255))
        pixels = np.array(bitmap.to_numpy()[:, :, :3], dtype=np.uint8)  # PDFium's native order is BGR(x)
        bitmap.close()
        page.close()
    return pixels


def pdf_pages(data: bytes, limits: ImageConfig, name: str = "the PDF") -> Iterator[np.ndarray]:
    """Render the first ``limits.pdf_max_pages`` pages of a PDF, one at a time; a warning says when pages are
    left out. Raises :class:`InvalidImageError` for an encrypted, damaged or empty PDF."""
    document = open_pdf(data, name)
    try:
        count = len(document)
        if count == 0:
            raise InvalidImageError(f"{name} has no pages")
        if count > limits.pdf_max_pages:
            log.warning("%s has %d pages; only the first %d are read (the page limit, image.pdf_max_pages)",
                        name, count, limits.pdf_max_pages)
        for index in range(min(count, limits.pdf_max_pages)):
            yield render_page(document, index, limits, name)
    finally:
        with _PDFIUM:
            document.close()
