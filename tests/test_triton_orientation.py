"""Orientation in Triton: the repository serves the angle classifier (``ocr_postprocess`` calls it with
``use_textline_orientation``) and the page classifier (``det_preprocess`` calls it with
``use_doc_orientation_classify``), and each request turns either on or off whatever the server's config says;
upside-down real screenshots and a turned page come back as the in-process pipeline reads them."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from triton_ocr.config import OCRConfig
from triton_ocr.eval.datasets import load_dataset
from triton_ocr.pipeline import OCRPipeline
from triton_ocr.contract import DOC_ORIENTATION, TEXTLINE_ORIENTATION
from triton_ocr.steps.image_loading import load_image
from triton_ocr import PaddleOCR
from triton_ocr.result import OCRResult
from triton_ocr_client import AsyncOCRClient, OCRClient
from triton_fixtures import assert_same_result, served_config, start_server, text_image

pytestmark = pytest.mark.triton

CONFIG = OCRConfig(use_textline_orientation=True)
"""The server's: lines turned unless a request says otherwise, pages only where a request asks."""
BOTH = CONFIG.with_overrides(use_doc_orientation_classify=True)
IMAGES = 12


@pytest.fixture(scope="module")
def server():
    yield from start_server(config=CONFIG)


@pytest.fixture(scope="module")
def images(shared_data) -> list[np.ndarray]:
    """Real game-UI screenshots turned by 180°, and two upright ones."""
    samples = load_dataset("cn_game_ui", shared_data).samples[:IMAGES]
    pictures = [load_image(sample.image) for sample in samples]
    return [np.ascontiguousarray(np.rot90(p, 2)) for p in pictures] + pictures[:2]


def test_the_classifiers_are_models_of_the_server(server):
    for model in (TEXTLINE_ORIENTATION, DOC_ORIENTATION):
        assert served_config(server, model)["backend"] == "openvino"


@pytest.mark.parametrize(("turns", "angle"), [(0, 0), (1, 270), (3, 90)])
def test_a_turned_page_is_read_upright_in_its_own_pixels(server, turns, angle):
    page = load_image(text_image(11, size=(640, 480)))
    turned = np.ascontiguousarray(np.rot90(page, turns))
    expected = next(OCRPipeline(BOTH).predict(turned))
    assert expected["doc_preprocessor_res"]["angle"] == angle and len(expected["rec_texts"]) >= 4
    with OCRClient.from_url(server.grpc_url, timeout_s=120) as client:
        got = next(client.predict(turned, use_doc_orientation_classify=True))
    assert got["doc_preprocessor_res"]["angle"] == angle
    assert_same_result(expected, got)


def test_upside_down_lines_are_read_like_in_process(server, images, pipeline):
    oriented = OCRPipeline(CONFIG)
    expected = [next(oriented.predict(image)) for image in images]
    unoriented = [next(pipeline.predict(image)) for image in images[:IMAGES]]
    assert sum(r["rec_text"] != u["rec_text"] for r, u in zip(expected, unoriented)) >= IMAGES // 2  # it matters
    with OCRClient.from_url(server.grpc_url, timeout_s=120) as client, ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda image: next(client.predict(image)), images))
    for index, (want, got) in enumerate(zip(expected, results)):
        assert_same_result(want, got, label=index)
        assert got["textline_orientation_angles"] == want["textline_orientation_angles"], index


def test_the_line_classifiers_decisions_come_back(server):
    """One upside-down line on an upright page: the page stays, that line alone is turned, and the server says
    which (``textline_orientation_angles``), as the in-process pipeline does."""
    mixed = load_image(text_image(11, size=(640, 480)))
    mixed[160:236] = mixed[160:236, ::-1][::-1]  # the third line (y 168) turned by 180° where it stands
    expected = next(OCRPipeline(BOTH).predict(mixed))
    assert expected["doc_preprocessor_res"]["angle"] == 0 and expected["textline_orientation_angles"].count(1) == 1
    with OCRClient.from_url(server.grpc_url, timeout_s=120) as client:
        got = next(client.predict(mixed, use_doc_orientation_classify=True))
    assert_same_result(expected, got)
    assert got["textline_orientation_angles"] == expected["textline_orientation_angles"]


def test_a_request_turns_off_what_the_servers_config_turns_on(server, images, pipeline):
    """The server turns lines by default; ``use_textline_orientation=False`` reads as a pipeline without it, and
    the async client sends the same switch."""
    upside_down = images[0]
    expected = next(pipeline.predict(upside_down))
    with OCRClient.from_url(server.grpc_url, timeout_s=120) as client:
        got = next(client.predict(upside_down, use_textline_orientation=False))
        default = next(client.predict(upside_down))
    assert_same_result(expected, got)
    assert set(got["textline_orientation_angles"]) <= {-1} and got["model_settings"]["use_textline_orientation"] is False
    assert default["rec_texts"] != got["rec_texts"] and 1 in default["textline_orientation_angles"]

    async def read_async() -> OCRResult:
        async with AsyncOCRClient.from_url(server.grpc_url, timeout_s=120) as client:
            return await client.ocr(upside_down, use_textline_orientation=False)

    assert asyncio.run(read_async())["rec_texts"] == expected["rec_texts"]


def test_paddleocr_on_a_server_turns_pages_and_lines_as_its_defaults_say(server):
    """``PaddleOCR(server=...)``: PaddleOCR's defaults (page and text-line orientation on) travel per request."""
    turned = np.ascontiguousarray(np.rot90(load_image(text_image(11, size=(640, 480))), 2))
    expected = next(OCRPipeline(BOTH).predict(turned))
    (got,) = PaddleOCR(server=server.grpc_url, use_doc_unwarping=False).predict(turned)
    assert got["doc_preprocessor_res"]["angle"] == 180 and got["model_settings"]["use_textline_orientation"]
    assert_same_result(expected, got)
