"""A server started with another model set answers what the in-process pipeline of that set answers (same texts,
boxes within 1 px) on real images. The default run checks PP-OCRv6 small; the ``slow`` run every new set."""

from __future__ import annotations

import pytest

from triton_ocr.config import OCRConfig
from triton_ocr.inputs import IMAGE_SUFFIXES
from triton_ocr.pipeline import OCRPipeline
from triton_ocr_client import OCRClient
from triton_fixtures import assert_same_result, data_folder, start_server

pytestmark = pytest.mark.triton


@pytest.fixture(scope="module")
def images() -> list[str]:
    photos = sorted(p for p in data_folder("photos_docs").rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    games = sorted((data_folder("cn_game_ui") / "images").iterdir())
    return [str(p) for p in [*photos[::6], *games[:6]]]


@pytest.mark.parametrize(
    "model_set",
    ["PP-OCRv6_small", pytest.param("PP-OCRv6_tiny", marks=pytest.mark.slow),
     pytest.param("PP-OCRv5_mobile", marks=pytest.mark.slow)],
)
def test_a_server_of_a_model_set_equals_its_in_process_pipeline(model_set, images):
    config = OCRConfig(model_set=model_set)
    expected = {r["input_path"]: r for r in OCRPipeline(config).predict(images)}
    assert sum(len(r["rec_text"]) for r in expected.values()) > 50
    for server in start_server(config=config, health_interval_s=3600.0):
        assert server.config.text_rec.model == f"{model_set}_rec"
        with OCRClient.from_url(server.grpc_url, timeout_s=300) as client:
            for path in images:
                assert_same_result(expected[path], next(client.predict(path)), label=path)
