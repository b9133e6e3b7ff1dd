"""Text-line orientation in Triton: with ``use_textline_orientation`` the repository serves the angle classifier
and ``ocr_postprocess`` calls it; upside-down real screenshots come back as the in-process pipeline reads them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from urllib.request import urlopen

import numpy as np
import pytest

from triton_ocr.config import OCRConfig
from triton_ocr.eval.datasets import load_dataset
from triton_ocr.pipeline import OCRPipeline
from triton_ocr.contract import TEXTLINE_ORIENTATION
from triton_ocr.steps.image_loading import load_image
from triton_ocr_client import OCRClient
from triton_fixtures import assert_same_result, start_server

pytestmark = pytest.mark.triton

CONFIG = OCRConfig(use_textline_orientation=True)
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


def test_the_classifier_is_a_model_of_the_server(server):
    config = urlopen(f"{server.http_url}/v2/models/{TEXTLINE_ORIENTATION}/config", timeout=10).read()
    assert b'"backend":"openvino"' in config


def test_upside_down_lines_are_read_like_in_process(server, images, pipeline):
    oriented = OCRPipeline(CONFIG)
    expected = [next(oriented.predict(image)) for image in images]
    unoriented = [next(pipeline.predict(image)) for image in images[:IMAGES]]
    assert sum(r["rec_text"] != u["rec_text"] for r, u in zip(expected, unoriented)) >= IMAGES // 2  # it matters
    with OCRClient.from_url(server.grpc_url, timeout_s=120) as client, ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda image: next(client.predict(image)), images))
    for index, (want, got) in enumerate(zip(expected, results)):
        assert_same_result(want, got, label=index)
