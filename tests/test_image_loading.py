"""Step 1: decoding every kind of input into BGR uint8, and refusing bad input with typed errors."""

from __future__ import annotations

import http.server
import io
import threading
import time

import numpy as np
import pytest
from imagegen import encode, png_header, render_lines
from PIL import Image, ImageOps

from triton_ocr.config import ImageConfig
from triton_ocr.errors import (
    ImageFetchError,
    ImageTooLargeError,
    ImageTooSmallError,
    InputNotFoundError,
    InvalidImageError,
)
from triton_ocr.steps.image_loading import decode_image, load_image

# A 4×2 BGR image with distinct pixels: the top row is blue, green, red, white; the bottom row black.
BGR = np.array(
    [[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]], [[0, 0, 0]] * 4], dtype=np.uint8
)
BGR = np.repeat(np.repeat(BGR, 4, axis=0), 4, axis=1)  # 16×8 so it passes the minimum side


def pil_bytes(image: Image.Image, fmt: str = "PNG", **save_args) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


def test_png_bytes_decode_to_bgr_exactly():
    decoded = decode_image(encode(BGR))
    assert decoded.dtype == np.uint8 and decoded.shape == (8, 16, 3)
    np.testing.assert_array_equal(decoded, BGR)


def test_path_and_bytes_and_array_agree(tmp_path):
    path = tmp_path / "x.png"
    path.write_bytes(encode(BGR))
    np.testing.assert_array_equal(load_image(path), BGR)
    np.testing.assert_array_equal(load_image(str(path)), BGR)
    np.testing.assert_array_equal(load_image(BGR), BGR)


def test_file_kind_is_sniffed_not_taken_from_the_name(tmp_path):
    path = tmp_path / "really_a_png.jpg"
    path.write_bytes(encode(BGR))
    np.testing.assert_array_equal(load_image(path), BGR)


def test_gray_palette_and_16bit_become_three_channels():
    gray = Image.fromarray(np.full((8, 8), 77, np.uint8))
    assert (decode_image(pil_bytes(gray)) == 77).all()

    palette = Image.fromarray(np.full((8, 8, 3), (10, 20, 30), np.uint8)).convert("P", palette=Image.Palette.ADAPTIVE)
    np.testing.assert_array_equal(decode_image(pil_bytes(palette))[0, 0], [30, 20, 10])

    deep = Image.fromarray(np.full((8, 8), 65535, np.uint16))
    assert (decode_image(pil_bytes(deep)) == 255).all()

    assert load_image(np.full((8, 8), 9, np.uint16) << 8).max() == 9


def test_alpha_is_composited_onto_white():
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:, :4] = (0, 0, 0, 255)  # opaque black left half, transparent right half
    decoded = decode_image(pil_bytes(Image.fromarray(rgba)))
    assert (decoded[:, :4] == 0).all() and (decoded[:, 4:] == 255).all()
    assert load_image(np.dstack([BGR, np.full(BGR.shape[:2], 255, np.uint8)])).shape == (8, 16, 3)


def test_light_text_on_a_transparent_background_keeps_its_contrast():
    """White text on a transparent background goes onto black (it vanished onto white), half-transparent pixels
    blend with it; dark text still goes onto white."""
    rgba = np.zeros((8, 8, 4), np.uint8)  # transparent black...
    rgba[2:6, 2:6] = (255, 255, 255, 255)  # ...around an opaque white square
    rgba[0, 0] = (255, 255, 255, 128)
    decoded = decode_image(pil_bytes(Image.fromarray(rgba)))
    assert (decoded[2:6, 2:6] == 255).all() and (decoded[6:] == 0).all() and (decoded[0, 0] == 128).all()
    np.testing.assert_array_equal(load_image(rgba[..., [2, 1, 0, 3]]), decoded)  # a BGRA array alike
    rgba[..., :3] = 255 - rgba[..., :3]  # black text: white background
    decoded = decode_image(pil_bytes(Image.fromarray(rgba)))
    assert (decoded[2:6, 2:6] == 0).all() and (decoded[6:] == 255).all() and (decoded[0, 0] == 127).all()


def test_white_text_on_transparent_png_is_read(pipeline):
    text = render_lines(["White 2024"], size=(300, 80), font_size=32, origin=(12, 18))  # black on white, BGR
    rgba = np.dstack([np.full(text.shape[:2] + (3,), 255, np.uint8), 255 - text[..., 0]])  # white ink, alpha = ink
    result = next(pipeline.predict(pil_bytes(Image.fromarray(rgba))))
    assert [t.replace(" ", "") for t in result["rec_texts"]] == ["White2024"]


def test_gray_alpha_arrays_load_like_gray_alpha_files():
    la = np.zeros((8, 8, 2), np.uint8)
    la[:, :4] = (200, 255)  # opaque light gray left half, transparent right half: a black background
    la[:, 4:] = (90, 0)
    from_file = decode_image(pil_bytes(Image.fromarray(la)))  # mode LA
    assert (from_file[:, :4] == 200).all() and (from_file[:, 4:] == 0).all()
    np.testing.assert_array_equal(load_image(la), from_file)


def test_exif_orientation_is_applied():
    wide = Image.fromarray(np.zeros((8, 24, 3), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    decoded = decode_image(pil_bytes(wide, "JPEG", exif=exif))
    assert decoded.shape[:2] == (24, 8)


def pillow_reference(data: bytes) -> np.ndarray:
    """What Pillow alone decodes ``data`` to, turned by its EXIF orientation, as BGR."""
    rgb = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    return np.ascontiguousarray(rgb[..., ::-1])


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_jpegs_decode_to_pillows_pixels_in_every_exif_orientation(orientation, mode):
    pixels = np.random.default_rng(orientation).integers(0, 256, (40, 64, 3), dtype=np.uint8)
    pixels[:8, :16] = (255, 0, 0)  # a corner mark: every turn and flip moves it
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = pil_bytes(Image.fromarray(pixels).convert(mode), "JPEG", exif=exif, quality=90)
    decoded = decode_image(data)
    expected = pillow_reference(data)
    assert decoded.shape == expected.shape == ((40, 64, 3) if orientation < 5 else (64, 40, 3))
    np.testing.assert_array_equal(decoded, expected)


def test_jpeg_with_bytes_after_its_end_marker_still_decodes():
    data = pil_bytes(Image.fromarray(np.full((32, 48, 3), 77, np.uint8)), "JPEG") + b"\0\0trailer"
    np.testing.assert_array_equal(decode_image(data), pillow_reference(data))


def test_jpeg_cut_inside_its_pixels_is_refused():
    noisy = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    data = pil_bytes(Image.fromarray(noisy), "JPEG")
    with pytest.raises(InvalidImageError, match="cannot decode"):
        decode_image(data[: len(data) * 2 // 3])


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"this is a text file, not an image\n" * 10, "cannot decode"),
        (encode(BGR)[:60], "cannot decode"),
        (pil_bytes(Image.fromarray(np.zeros((64, 64, 3), np.uint8)), "JPEG")[:200], "cannot decode"),
    ],
    ids=["empty", "text", "truncated-png", "truncated-jpeg"],
)
def test_undecodable_bytes_raise_invalid_image(data, message):
    with pytest.raises(InvalidImageError, match=message):
        decode_image(data)


def test_one_pixel_image_is_too_small():
    with pytest.raises(ImageTooSmallError, match="1×1"):
        decode_image(pil_bytes(Image.new("RGB", (1, 1))))


def test_huge_png_header_is_refused_before_decoding():
    started = time.perf_counter()
    with pytest.raises(ImageTooLargeError, match="20000×20000"):
        decode_image(png_header(20000, 20000))
    assert time.perf_counter() - started < 1.0


def test_byte_and_pixel_limits_are_configurable():
    with pytest.raises(ImageTooLargeError, match="bytes"):
        decode_image(encode(BGR), ImageConfig(max_bytes=10))
    with pytest.raises(ImageTooLargeError, match="pixels"):
        load_image(BGR, ImageConfig(max_pixels=100))


def test_missing_path_and_bad_types():
    with pytest.raises(InputNotFoundError):
        load_image("/nonexistent/image.png")
    with pytest.raises(InvalidImageError, match="unsupported input type"):
        load_image(3.14)
    with pytest.raises(InvalidImageError, match=r"must be .*\(H, W, 2\) \(gray \+ alpha\)"):
        load_image(np.zeros((8, 8, 5), np.uint8))


@pytest.fixture
def http_server():
    """A loopback HTTP server on a free port serving /ok.png and /big (larger than 1 KiB)."""
    png = encode(BGR)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            body = {"/ok.png": png, "/big": b"x" * 4096}.get(self.path)
            self.send_response(200 if body else 404)
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_url_inputs(http_server):
    np.testing.assert_array_equal(load_image(f"{http_server}/ok.png"), BGR)
    with pytest.raises(ImageFetchError, match="404"):
        load_image(f"{http_server}/missing.png")
    with pytest.raises(ImageTooLargeError):
        load_image(f"{http_server}/big", ImageConfig(max_bytes=1024))
