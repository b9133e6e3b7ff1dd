"""Step 1 for documents: PDF bytes → one BGR ``uint8`` image (H, W, 3) per page, rendered by PDFium (pypdfium2).

Pages render at ``image.pdf_dpi`` (144 by default: 2 pixels per PDF point, as PaddleX renders them); only the
first ``image.pdf_max_pages`` pages are read (10, PaddleX's cap). Before any page is rendered, every page read is
checked against ``image.max_pixels`` and all of them together against ``image.pdf_max_total_pixels``.

These are the plain rendering functions. PDFium parses hostile files at any cost (nested forms, compression bombs:
GBs and minutes from a few KB) and aborts the process when out of memory, so they run in a child process with
limits: :mod:`~triton_ocr.steps.pdf_worker`, whose child imports this module without the ``triton_ocr`` package's
``__init__`` (numpy and pypdfium2 only, so :class:`~triton_ocr.config.ImageConfig` is not imported here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from triton_ocr.errors import ImageTooLargeError, InvalidImageError

if TYPE_CHECKING:
    import pypdfium2 as pdfium

    from triton_ocr.config import ImageConfig

PDF_MAGIC = b"%PDF-"


def is_pdf(data: bytes) -> bool:
    """Whether ``data`` is a PDF file (its header, which PDF readers accept within the first 1024 bytes)."""
    return PDF_MAGIC in bytes(data[:1024])


@dataclass(frozen=True)
class PdfLimits:
    """The rendering limits of :class:`~triton_ocr.config.ImageConfig` (``pdf_dpi``, ``pdf_max_pages``,
    ``max_pixels``, ``pdf_max_total_pixels``)."""

    dpi: int
    max_pages: int
    max_pixels: int
    max_total_pixels: int

    @classmethod
    def of(cls, image: ImageConfig) -> PdfLimits:
        return cls(image.pdf_dpi, image.pdf_max_pages, image.max_pixels, image.pdf_max_total_pixels)


@dataclass(frozen=True)
class PdfInfo:
    """A PDF's page count and the pixel size (width, height) of each page that will be read."""

    num_pages: int
    page_sizes: list[tuple[int, int]]

    @property
    def unread(self) -> str | None:
        """What was left unread, when the page limit cut the PDF short (``None``: every page is read)."""
        read = len(self.page_sizes)
        if self.num_pages <= read:
            return None
        return (f"read {read} of {self.num_pages} pages: the page limit is {read} (image.pdf_max_pages in the "
                f"pipeline config)")


def open_pdf(data: bytes, name: str) -> pdfium.PdfDocument:
    """Open PDF bytes; an encrypted or damaged file is an :class:`InvalidImageError` that says which."""
    import pypdfium2 as pdfium  # here: the processes that only read pages (the gateway, Triton's) never load PDFium

    try:
        return pdfium.PdfDocument(bytes(data))
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise InvalidImageError(f"{name} is encrypted (password-protected); send it decrypted") from exc
        raise InvalidImageError(f"{name} is damaged or not a PDF: {exc}") from exc


def pdf_info(document: pdfium.PdfDocument, limits: PdfLimits, name: str) -> PdfInfo:
    """Page count and the pixel size of each page to be read, checked against the limits before any page is
    loaded (loading a page parses its content: the costly part of a hostile one).

    Raises :class:`InvalidImageError` for a PDF without pages or with a page whose size cannot be read (a page
    tree that loops, a missing page object), :class:`ImageTooLargeError` for a page over ``max_pixels`` or pages
    over ``max_total_pixels`` in all."""
    import pypdfium2 as pdfium

    count = len(document)
    if count == 0:
        raise InvalidImageError(f"{name} has no pages")
    sizes = []
    for index in range(min(count, limits.max_pages)):
        try:
            points = document.get_page_size(index)
        except pdfium.PdfiumError as exc:
            raise InvalidImageError(f"{name} page {index + 1} cannot be read (a damaged page tree?): {exc}") from exc
        width, height = (max(1, round(side * limits.dpi / 72)) for side in points)
        if width * height > limits.max_pixels:
            raise ImageTooLargeError(
                f"{name} page {index + 1} would render at {width}×{height} = {width * height} pixels "
                f"({limits.dpi} dpi); the limit is {limits.max_pixels} (image.max_pixels)"
            )
        sizes.append((width, height))
    total = sum(width * height for width, height in sizes)
    if total > limits.max_total_pixels:
        raise ImageTooLargeError(
            f"{name}'s {len(sizes)} pages read would render at {total} pixels in all ({limits.dpi} dpi); the limit "
            f"is {limits.max_total_pixels} (image.pdf_max_total_pixels)"
        )
    return PdfInfo(count, sizes)


def render_page(document: pdfium.PdfDocument, index: int, dpi: int, name: str) -> np.ndarray:
    """Page ``index`` at ``dpi`` → BGR uint8 (H, W, 3), white where the page has nothing."""
    import pypdfium2 as pdfium

    try:
        page = document[index]
        try:
            bitmap = page.render(scale=dpi / 72, fill_color=(255, 255, 255, 255))
            pixels = np.array(bitmap.to_numpy()[:, :, :3], dtype=np.uint8)  # PDFium's native order is BGR(x)
            bitmap.close()
        finally:
            page.close()
    except pdfium.PdfiumError as exc:
        raise InvalidImageError(f"{name} page {index + 1} cannot be rendered: {exc}") from exc
    return pixels
