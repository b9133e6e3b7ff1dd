"""What the soak test sends: distinct text images whose answers are known, and hostile inputs with the answer each
must get.

Kinds (``Case.kind``):

- ``good``: a rendered image with its own words (no two images share a line); the answer must be that image's
  texts exactly (another image's texts: *crossed*; anything else or no answer: *lost*).
- ``corrupt``: truncated PNG, random bytes, text, a PNG header claiming 20000×20000 pixels: a client error (4xx /
  INVALID_ARGUMENT), never a 5xx.
- ``amplifying``: a 4×4 PNG asking ``limit_type: min``, side 8192 (bounded by ``text_det.max_input_pixels``), and a
  large page with ``visualize`` (bounded by ``picture_max_side``): a normal answer.
- ``poison``: shapes the models cannot run, sent through Triton's own API — ``ocr_raw`` images of 1×2 and 3×3
  pixels, a 2 px wide line to ``text_rec``, a 31×33 input to ``text_det``: INVALID_ARGUMENT, and the models keep
  serving.
- ``pdf``: the hostile PDFs of :mod:`~triton_ocr.bench.hostile_pdfs` in the gateway's ``file`` field (nested forms,
  a FlateDecode bomb, huge pages, a looping page tree): a 4xx within the PDF limits (or a 503 when every PDF worker
  is busy), and the gateway survives.
- ``restricted``: Triton's restricted APIs called without the key over gRPC — registering the python backend's own
  shared-memory region (the read attack of issue 20), statistics, unloading a model, the log settings: refused.
- ``oversize``: shapes that once crashed a process or ran unbounded, over gRPC — an ``ocr_raw`` image declaring
  1000000 × 1000000 × 3 (a ``std::bad_alloc`` abort over Triton's HTTP JSON), a line wider than ``text_rec`` ever
  gets, a negative ``det_input_size`` to ``ocr_postprocess``: INVALID_ARGUMENT.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from triton_ocr import contract
from triton_ocr.fonts import find_font

Kind = Literal["good", "corrupt", "amplifying", "poison", "pdf", "restricted", "oversize"]
WORDS = ("alpha", "bravo", "delta", "echo", "golf", "hotel", "kilo", "lima", "mike", "oscar", "romeo", "sierra",
         "tango", "victor", "whisky", "zulu")


@dataclass(frozen=True)
class Case:
    """One input: ``data`` (the encoded file, or for ``poison`` the model name and the array), the parameters to
    send with it (``overrides``: the client's sections; ``body``: extra gateway JSON fields), and for ``good``
    cases the texts the answer must have."""

    name: str
    kind: Kind
    data: Any
    expected: tuple[str, ...] = ()
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    field: Literal["image", "file"] = "image"
    """The gateway field the file goes in (``file``: PaddleX 3.x's, which takes PDFs)."""


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def text_image(lines: list[str], rng: random.Random) -> bytes:
    """A white PNG with ``lines`` in black, one under the other, at a random size and offset."""
    font_file = find_font()
    size = rng.choice((26, 30, 34))
    font = ImageFont.truetype(str(font_file), size) if font_file else ImageFont.load_default(size)
    width = max(int(font.getlength(line)) for line in lines) + rng.randint(40, 120)
    image = Image.new("RGB", (width, len(lines) * size * 2 + rng.randint(20, 60)), "white")
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(lines):
        draw.text((rng.randint(10, 30), 12 + row * size * 2), line, fill="black", font=font)
    return png(image)


def good_cases(count: int, seed: int) -> list[Case]:
    """``count`` images, each with 1–3 lines of its own (a number per line makes every line unique); ``expected``
    is filled in by the soak's warm-up (the server's answer, checked to hold the rendered numbers)."""
    rng = random.Random(seed)
    cases = []
    for index in range(count):
        lines = [f"{rng.choice(WORDS)} {1000 + 10 * index + row} {rng.choice(WORDS)}"
                 for row in range(rng.randint(1, 3))]
        cases.append(Case(f"good_{index}", "good", text_image(lines, rng), expected=tuple(lines)))
    return cases


def png_claiming(width: int, height: int) -> bytes:
    """A PNG header claiming ``width``×``height`` RGB pixels with one compressed row: a bomb in form."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * (3 * width + 1)))


def attack_cases(max_width: int) -> list[Case]:
    """The pdf, restricted and oversize inputs (see the module docstring); ``max_width``: ``text_rec.max_width``.
    An oversize case's data is ``(model, {input name: array or (declared shape, raw bytes)})``, ``""`` naming the
    model's only input."""
    from triton_ocr.bench.hostile_pdfs import HOSTILE_PDFS

    pdfs = [Case(f"pdf_{name}", "pdf", make(), field="file", body={"fileType": 0}) for name, make in HOSTILE_PDFS.items()]
    restricted = [Case(f"restricted_{api}", "restricted", api)
                  for api in ("register_stub_region", "statistics", "unload_model", "log_settings")]
    postprocess = {contract.PROB_MAP: np.zeros((1, 1, 64, 64), np.float32),
                   contract.DECODED_IMAGE: np.zeros((64, 64, 3), np.uint8),
                   contract.DET_INPUT_SIZE: np.array([-5, 40], np.int32),
                   contract.DOC_ANGLE.name: np.array([-1], np.int32)}
    oversize = [
        Case("raw_declares_1e12_pixels", "oversize",
             (contract.OCR_RAW, {contract.IMAGE: ((1000000, 1000000, 3), b"\0" * 27)})),
        Case("rec_wider_than_served", "oversize", ("text_rec", {"": np.zeros((1, 3, 48, max_width + 1), np.float32)})),
        Case("postprocess_negative_size", "oversize", ("ocr_postprocess", postprocess)),
    ]
    return pdfs + restricted + oversize


def hostile_cases(seed: int) -> list[Case]:
    """The corrupt, amplifying and poison inputs (see the module docstring)."""
    rng = np.random.default_rng(seed)
    page = Image.new("RGB", (6000, 6000), "white")
    ImageDraw.Draw(page).text((100, 100), "soak 6000", fill="black", font=ImageFont.load_default(60))
    whole = text_image(["truncated 4242"], random.Random(seed))
    return [
        Case("truncated_png", "corrupt", whole[: len(whole) // 2]),
        Case("random_bytes", "corrupt", rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()),
        Case("text_file", "corrupt", b"not an image at all\n" * 20),
        Case("png_bomb_header", "corrupt", png_claiming(20000, 20000)),
        Case("tiny_min_8192", "amplifying", png(Image.new("RGB", (4, 4), "white")),
             overrides={"text_det": {"limit_type": "min", "limit_side_len": 8192}},
             body={"textDetLimitType": "min", "textDetLimitSideLen": 8192}),
        Case("page_6000_visualize", "amplifying", png(page), body={"visualize": True}),
        Case("raw_1x2", "poison", ("ocr_raw", np.zeros((1, 2, 3), np.uint8))),
        Case("raw_3x3", "poison", ("ocr_raw", np.full((3, 3, 3), 255, np.uint8))),
        Case("rec_2px_wide", "poison", ("text_rec", np.zeros((1, 3, 48, 2), np.float32))),
        Case("det_31x33", "poison", ("text_det", np.zeros((1, 3, 31, 33), np.float32))),
    ]


WEIGHTS: dict[Kind, float] = {"good": 0.66, "corrupt": 0.1, "amplifying": 0.05, "poison": 0.08, "pdf": 0.03,
                               "restricted": 0.04, "oversize": 0.04}
"""How often each kind is drawn."""
CHANNELS: dict[str, frozenset[Kind]] = {
    "grpc": frozenset({"good", "corrupt", "amplifying", "poison", "restricted", "oversize"}),
    "gateway": frozenset({"good", "corrupt", "amplifying", "pdf"}),
}
"""The kinds each channel sends: Triton's own API gets the model-level attacks, the gateway the PDFs."""


def draw(cases: list[Case], rng: random.Random, channel: str) -> Case:
    """A random case: a kind by :data:`WEIGHTS` among the channel's (:data:`CHANNELS`) that have cases, then a case
    of that kind."""
    present = {case.kind for case in cases}
    kinds = [kind for kind in WEIGHTS if kind in CHANNELS[channel] and kind in present]
    kind = rng.choices(kinds, [WEIGHTS[k] for k in kinds])[0]
    return rng.choice([case for case in cases if case.kind == kind])
