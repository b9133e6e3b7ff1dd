"""Helpers shared by the Triton test modules: one real server per module, data paths, comparisons, test images."""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from triton_ocr.result import OCRResult
from triton_ocr.serving.server.install import TritonUnavailableError, install_tritonserver
from triton_ocr.serving.server.launcher import TritonServer

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
WORDS = ("Triton", "OCR", "invoice", "total", "2051", "batch", "model", "serve", "queue", "text", "line", "alpha")


def data_folder(name: str) -> Path:
    folder = DATA / name
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent (the evaluation data lives in ../shared/data beside the project)")
    return folder


def start_server(**kwargs: object) -> Iterator[TritonServer]:
    """Yield a started server on free ports (serving the config's model set alone unless ``model_sets`` says
    otherwise); skip only when the binary cannot be obtained at all."""
    try:
        install_tritonserver()
    except TritonUnavailableError as exc:
        pytest.skip(f"the tritonserver binary cannot be obtained here: {exc}")
    kwargs.setdefault("model_sets", ())
    server = TritonServer.on_free_ports(**kwargs).start()
    try:
        yield server
    finally:
        server.stop()


def served_config(server: TritonServer, model: str) -> dict:
    """A served model's config, read over gRPC with the launcher's key (the model-config API is restricted)."""
    import tritonclient.grpc as grpc

    client = grpc.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
    try:
        return client.get_model_config(model, headers=server.admin_headers, as_json=True)["config"]
    finally:
        client.close()


def assert_same_result(expected: OCRResult, actual: OCRResult, label: object = "") -> None:
    """Same texts in the same order, every polygon corner within 1 px."""
    assert actual["rec_text"] == expected["rec_text"], label
    assert len(actual["dt_polys"]) == len(expected["dt_polys"]), label
    for want, got in zip(expected["dt_polys"], actual["dt_polys"]):
        assert np.abs(np.asarray(want) - np.asarray(got)).max() <= 1.0, label
    np.testing.assert_allclose(actual["rec_score"], expected["rec_score"], atol=1e-3, err_msg=str(label))


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` × ``height`` RGB pixels but holds almost no data (a decompression bomb)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def text_image(
    seed: int,
    size: tuple[int, int] = (640, 360),
    lines: int = 6,
    max_words: int = 4,
    vocabulary: Sequence[str] = WORDS,
) -> bytes:
    """A PNG with ``lines`` lines of 1 to ``max_words`` words of ``vocabulary`` picked by ``seed`` (black on white)."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(28)
    for row in range(lines):
        words = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, max_words)))
        draw.text((20 + rng.randint(0, 40), 16 + row * (size[1] - 20) // lines), words, fill="black", font=font)
    return png_bytes(image)


def word_grid(count: int, columns: int = 50) -> tuple[bytes, list[str]]:
    """A PNG holding ``count`` short words in a grid, and the words in reading order."""
    rng = random.Random(count)
    rows = -(-count // columns)
    image = Image.new("RGB", (columns * 64, rows * 32), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(18)
    words = [f"{rng.choice('ABCDEFGHKMNPRSTUVWXYZ')}{rng.randint(10, 99)}" for _ in range(count)]
    for index, word in enumerate(words):
        draw.text((8 + 64 * (index % columns), 6 + 32 * (index // columns)), word, fill="black", font=font)
    return png_bytes(image), words


def stub_pids(server: TritonServer, model: str) -> list[int]:
    """PIDs of ``server``'s python stub processes serving ``model``."""
    return sorted(pid for name, pid in server.stub_processes().items() if name.rsplit("_", 2)[0] == model)
