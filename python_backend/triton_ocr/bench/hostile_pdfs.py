"""Hostile PDFs, written by hand in raw PDF syntax (zlib for the compressed streams), and a good one for control.

Each is a few KB and would cost a renderer that trusts it seconds to minutes of CPU or GBs of memory:

- ``forms_1e7`` / ``forms_1e8``: Form XObjects nested 7 / 8 deep, each drawing the one below 10 times: 10^7 / 10^8
  draws of a 1 × 1 square. PDFium parses every instance when it loads the page: 10^6 draws took 1.6 GB and 3 s
  here, 10^7 reached 8 GB (the ``ulimit -v`` of the check) in 23 s and PDFium aborted;
- ``flate_bomb``: a page whose content stream is 2 GiB of spaces behind two FlateDecode filters (5 KB);
- ``huge_pages``: ten 3160 × 3160 pt pages, each just under ``image.max_pixels`` at 144 dpi (6320², 40 M pixels,
  120 MB decoded): 1.2 GB of pixels;
- ``page_tree_loop``: a /Pages node that lists itself among its kids.

:func:`control_pdf` is a valid three-page PDF whose pages read :data:`CONTROL_TEXTS` (Helvetica, built into every
PDF renderer). Used by ``tests/test_pdf_hostile.py``, ``python -m triton_ocr.bench.pdf_pressure`` and the soak.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from functools import cache

CONTROL_TEXTS = ("Page one 1111", "Page two 2222", "Page three 3333")


def pdf_file(objects: list[bytes]) -> bytes:
    """A PDF whose objects are numbered from 1 in order (object 1 the catalog), with a correct cross-reference
    table. A payload ending in ``stream ... endstream`` is written as is."""
    body, offsets = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", []
    for number, payload in enumerate(objects, start=1):
        offsets.append(len(body))
        body += b"%d 0 obj\n%s\nendobj\n" % (number, payload)
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    body += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    body += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return body


def stream(dictionary: bytes, data: bytes) -> bytes:
    """A stream object: ``dictionary`` holds the entries besides /Length."""
    return b"<< %s /Length %d >>\nstream\n%s\nendstream" % (dictionary, len(data), data)


def pages_of(contents: list[bytes], size: tuple[float, float] = (612, 792), resources: bytes = b"<< >>") -> bytes:
    """A PDF with one page per content stream, each ``size`` points, all sharing ``resources``."""
    count = len(contents)
    kids = b" ".join(b"%d 0 R" % (3 + 2 * i) for i in range(count))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, count)]
    for i, content in enumerate(contents):
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %g %g] /Resources %s /Contents %d 0 R >>"
            % (size[0], size[1], resources, 4 + 2 * i)
        )
        objects.append(stream(b"", content))
    return pdf_file(objects)


def nested_forms(depth: int, fan_out: int = 10) -> bytes:
    """One page drawing Form XObject ``depth``; form k draws form k − 1 ``fan_out`` times; form 0 fills a 1 × 1
    square: ``fan_out ** depth`` fills. Objects: 1 catalog, 2 pages, 3 page, 4 its content, 5 + k form k."""
    forms = [stream(b"/Type /XObject /Subtype /Form /BBox [0 0 612 792]", b"0 0 1 1 re f")]
    for level in range(1, depth + 1):
        draws = b" ".join([b"/F Do"] * fan_out)
        forms.append(stream(
            b"/Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources << /XObject << /F %d 0 R >> >>"
            % (5 + level - 1),
            draws,
        ))
    return pdf_file([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /F %d 0 R >> >> "
        b"/Contents 4 0 R >>" % (5 + depth),
        stream(b"", b"/F Do"),
        *forms,
    ])


@cache
def flate_bomb(gib: int = 2) -> bytes:
    """One page whose content stream inflates to ``gib`` GiB of spaces: deflated twice
    (``/Filter [/FlateDecode /FlateDecode]``), ~2.5 KB per GiB; built in ~0.3 s per GiB, then cached.

    The inner zlib stream is one compressed MiB repeated: after a full flush the compressor starts afresh, so every
    MiB of spaces compresses to the same bytes; the stream ends with an empty final block and the Adler-32 of all
    the spaces (computing it is the time it takes)."""
    chunk, count = b" " * (1 << 20), gib << 10
    compressor = zlib.compressobj(9)
    first = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeated = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    checksum = 1
    for _ in range(count):
        checksum = zlib.adler32(chunk, checksum)
    once = first + repeated * (count - 1) + b"\x03\x00" + checksum.to_bytes(4, "big")
    twice = zlib.compress(once, 9)
    return pdf_file([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        stream(b"/Filter [/FlateDecode /FlateDecode]", twice),
    ])


def huge_pages(count: int = 10, points: float = 3160) -> bytes:
    """``count`` pages of ``points`` × ``points``, each with one filled square."""
    return pages_of([b"0 0 100 100 re f"] * count, size=(points, points))


def page_tree_loop() -> bytes:
    """A page tree whose /Pages node is its own kid (besides one real page)."""
    return pdf_file([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
    ])


def control_pdf(texts: tuple[str, ...] = CONTROL_TEXTS) -> bytes:
    """A valid PDF with one 360 × 60 pt page per text, the text in 24 pt Helvetica."""
    font = b"<< /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >>"
    contents = [b"BT /F1 24 Tf 10 20 Td (%s) Tj ET" % text.encode("latin-1") for text in texts]
    return pages_of(contents, size=(360, 60), resources=font)


HOSTILE_PDFS: dict[str, Callable[[], bytes]] = {
    "forms_1e7": lambda: nested_forms(7),
    "forms_1e8": lambda: nested_forms(8),
    "flate_bomb": flate_bomb,
    "huge_pages": huge_pages,
    "page_tree_loop": page_tree_loop,
}
"""Every hostile PDF by name: a function making its bytes."""
