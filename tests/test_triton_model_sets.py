"""One server serves several model sets side by side: each set answers what the in-process pipeline of that set
answers (same texts, boxes within 1 px) on real images, a request chooses its set, and a user's explicit setting
holds in every lane. The default run serves PP-OCRv6 small (primary) beside PP-OCRv4 mobile; the ``slow`` run adds
the other sets."""

from __future__ import annotations

import pytest

from triton_ocr.config import OCRConfig
from triton_ocr.errors import ConfigError
from triton_ocr.inputs import IMAGE_SUFFIXES
from triton_ocr.pipeline import OCRPipeline
from triton_ocr_client import ModelNotServedError, OCRClient
from triton_fixtures import assert_same_result, data_folder, start_server

pytestmark = pytest.mark.triton

USER = OCRConfig(text_det={"box_thresh": 0.55})
"""An explicit setting that differs from every set's own box_thresh (0.5 / 0.6 / 0.4)."""


@pytest.fixture(scope="module")
def images() -> list[str]:
    photos = sorted(p for p in data_folder("photos_docs").rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    games = sorted((data_folder("cn_game_ui") / "images").iterdir())
    return [str(p) for p in [*photos[::8], *games[:4]]]


def check_set(client: OCRClient, model_set: str | None, images: list[str], pipeline: OCRPipeline) -> None:
    expected = {r["input_path"]: r for r in pipeline.predict(images)}
    assert sum(len(r["rec_text"]) for r in expected.values()) > 30
    for path in images:
        assert_same_result(expected[path], next(client.predict(path, model_set=model_set)), label=(model_set, path))


def test_one_server_answers_two_sets_and_keeps_the_users_setting(images):
    local = OCRPipeline(USER)
    v4 = local.with_model_set("PP-OCRv4_mobile")
    assert local.config.text_det.box_thresh == v4.config.text_det.box_thresh == 0.55
    assert (local.config.text_det.limit_type, v4.config.text_det.limit_type) == ("min", "max")
    for server in start_server(config=USER, model_sets=["PP-OCRv4_mobile"], health_interval_s=3600.0, http=True):
        assert server.plan.model_sets == ("PP-OCRv6_small", "PP-OCRv4_mobile")
        with OCRClient.from_url(server.grpc_url, timeout_s=300) as client:
            check_set(client, None, images, local)
            check_set(client, "PP-OCRv6_small", images[:2], local)
            check_set(client, "PP-OCRv4_mobile", images, v4)
            with pytest.raises(ModelNotServedError, match="ocr.PP-OCRv6_tiny"):
                next(client.predict(images[0], model_set="PP-OCRv6_tiny"))
            with pytest.raises(ConfigError, match="unknown model set 'v7'"):
                next(client.predict(images[0], model_set="v7"))
        with OCRClient.from_url(server.http_url, timeout_s=300, model_set="PP-OCRv4_mobile") as client:
            assert_same_result(next(v4.predict(images[0])), next(client.predict(images[0])))
        with OCRClient.from_url(server.grpc_url, timeout_s=300, config=USER) as client:  # the server's own config
            for model_set, pipeline in (("PP-OCRv4_mobile", v4), (None, local)):
                got = next(client.predict(images[0], model_set=model_set))
                want = next(pipeline.predict(images[0]))
                assert got["text_det_params"] == want["text_det_params"], model_set  # the parameters it ran
            assert got["text_det_params"]["limit_type"] == "min"
    with pytest.raises(ConfigError, match="unknown model set 'bogus'"):
        OCRClient.from_url("grpc://127.0.0.1:1", model_set="bogus")  # checked at once, like one named per call


@pytest.mark.slow
@pytest.mark.parametrize("model_set", ["PP-OCRv6_tiny", "PP-OCRv5_mobile"])
def test_a_server_of_a_model_set_equals_its_in_process_pipeline(model_set, images):
    config = OCRConfig(model_set=model_set)
    for server in start_server(config=config, health_interval_s=3600.0):
        assert server.config.text_rec.model == f"{model_set}_rec"
        with OCRClient.from_url(server.grpc_url, timeout_s=300) as client:
            check_set(client, None, images, OCRPipeline(config))
