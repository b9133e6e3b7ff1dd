"""Document orientation (``use_doc_orientation_classify``): a rendered page turned by 90°, 180° and 270° reads like
the upright page, with the angle reported and the polygons in the turned image's own pixels."""

from __future__ import annotations

import numpy as np
import pytest

from imagegen import render_lines
from triton_ocr.config import OCRConfig
from triton_ocr.pipeline import OCRPipeline
from triton_ocr.steps.doc_orientation import points_to_original, turn_page

LINES = ["发票号码 2024 年度结算单", "Total amount due: 1,280.00", "付款方式 银行转账",
         "Thank you for your business"]
WIDTH, HEIGHT = 900, 1200


@pytest.fixture(scope="module")
def page() -> np.ndarray:
    """BGR (1200, 900, 3): four lines, Chinese and English."""
    return render_lines(LINES, size=(WIDTH, HEIGHT), font_size=36, origin=(40, 60), line_gap=90)


@pytest.fixture(scope="module")
def pipeline() -> OCRPipeline:
    return OCRPipeline(OCRConfig(use_doc_orientation_classify=True))


def ccw_quarter_turns(points: np.ndarray, k: int) -> np.ndarray:
    """Where points (..., 2) of the upright page lie after ``np.rot90(page, k)``: each counter-clockwise quarter
    turn takes (x, y) of a w × h image to (y, w - x) of the h × w one."""
    width, height = WIDTH, HEIGHT
    for _ in range(k):
        points = np.stack([points[..., 1], width - points[..., 0]], axis=-1)
        width, height = height, width
    return points


@pytest.mark.parametrize(("k", "angle"), [(1, 270), (2, 180), (3, 90)])
def test_a_turned_page_reads_like_the_upright_one_in_its_own_pixels(pipeline, page, k, angle):
    upright = next(pipeline.predict(page))
    assert upright["doc_preprocessor_res"]["angle"] == 0
    assert [t.replace(" ", "") for t in upright["rec_texts"]] == [t.replace(" ", "") for t in LINES]
    turned = next(pipeline.predict(np.ascontiguousarray(np.rot90(page, k))))
    assert turned["doc_preprocessor_res"]["angle"] == angle
    assert turned["rec_texts"] == upright["rec_texts"]
    expected = ccw_quarter_turns(np.asarray(upright["rec_polys"], np.float32), k)
    np.testing.assert_allclose(np.asarray(turned["rec_polys"]), expected, atol=4)


def test_without_the_flag_nothing_is_turned_and_a_call_turns_it_on_in_a_pipeline_created_without_it(page):
    plain = OCRPipeline(OCRConfig())
    upside_down = np.ascontiguousarray(np.rot90(page, 2))
    result = next(plain.predict(upside_down))
    assert "doc_preprocessor_res" not in result and result["model_settings"]["use_doc_preprocessor"] is False
    assert not {t.replace(" ", "") for t in result["rec_texts"]} & {t.replace(" ", "") for t in LINES}
    turned = next(plain.predict(upside_down, use_doc_orientation_classify=True))
    assert turned["doc_preprocessor_res"]["angle"] == 180 and turned["model_settings"]["use_doc_preprocessor"]
    assert [t.replace(" ", "") for t in turned["rec_texts"]] == [t.replace(" ", "") for t in LINES]
    assert next(plain.predict(upside_down, use_doc_orientation_classify=False))["rec_texts"] == result["rec_texts"]


@pytest.mark.parametrize("k", [1, 2, 3])
def test_a_point_of_the_upright_page_maps_onto_its_pixel_in_the_input(k):
    base = np.zeros((7, 11, 3), np.uint8)
    base[2, 8] = 255  # the pixel at x=8, y=2 of the upright page
    given = np.ascontiguousarray(np.rot90(base, k))  # the input: the page turned k quarters counter-clockwise
    y, x = np.argwhere(given[:, :, 0] == 255)[0]
    angle = (4 - k) % 4 * 90  # turning the input this far counter-clockwise makes it upright
    assert np.array_equal(turn_page(given, angle), base)
    mapped = points_to_original(np.array([[8.5, 2.5]]), angle, given.shape[:2])  # the pixel's centre
    np.testing.assert_allclose(mapped, [[x + 0.5, y + 0.5]])
