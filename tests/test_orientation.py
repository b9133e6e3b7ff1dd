"""Text-line orientation: the classifier's input and decision, and upside-down real images read with it on."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from triton_ocr.config import OCRConfig, TextlineOrientationConfig
from triton_ocr.errors import ConfigError
from triton_ocr.eval.datasets import GTLine, load_dataset
from triton_ocr.eval.metrics import CERCounts, fold_width_and_spaces, line_cer_counts
from triton_ocr.pipeline import OCRPipeline
from triton_ocr.stages import boxes_from_prob_map, det_input, line_crops, orientation_batches, upright_crops
from triton_ocr.steps.image_loading import load_image
from triton_ocr.steps.textline_orientation import upside_down

CFG = TextlineOrientationConfig()
GAME_UI_IMAGES = 16


def test_classifier_input_keeps_the_ratio_and_pads_right():
    wide, narrow = np.full((20, 200, 3), 255, np.uint8), np.zeros((24, 48, 3), np.uint8)
    batches = orientation_batches([narrow] * 7 + [wide], CFG)
    assert [b.shape for b in batches] == [(6, 3, 48, 192), (2, 3, 48, 192)]
    assert all(b.dtype == np.float32 for b in batches)
    narrow_row = batches[0][0, :, 24]
    assert (narrow_row[:, :96] == -1).all() and (narrow_row[:, 96:] == 0).all()  # black to 96 px, then padding
    assert (batches[1][1] == 1).all()  # 10:1 is wider than 192:48: squeezed to the full width
    assert orientation_batches([], CFG) == []


def test_only_confident_upside_down_crops_turn():
    probs = np.array([[0.95, 0.05], [0.05, 0.95], [0.1, 0.9], [0.15, 0.85], [0.5, 0.5]], np.float32)
    assert upside_down(probs, CFG).tolist() == [False, True, True, False, False]
    crops = [np.arange(6, dtype=np.uint8).reshape(1, 2, 3) + 10 * i for i in range(5)]
    turned = upright_crops(crops, probs, CFG)
    assert [np.array_equal(t, c[::-1, ::-1]) for t, c in zip(turned, crops)] == [False, True, True, False, False]
    assert turned[0] is crops[0]
    with pytest.raises(ValueError, match="5 crops but 2"):
        upright_crops(crops, probs[:2], CFG)


def test_config_defaults_and_per_call_switch(pipeline):
    config = OCRConfig()
    assert config.use_textline_orientation is False and config.textline_orientation == CFG
    assert config.with_overrides(use_textline_orientation=True).use_textline_orientation
    assert OCRConfig.model_validate({"use_textline_orientation": True}).use_textline_orientation



def test_a_call_turns_the_classifier_on_and_off_in_a_pipeline_created_without_it(game_ui):
    """PaddleX's ``predict(x, use_textline_orientation=...)``: the classifier loads on the first call that asks;
    a later call without it reads as before."""
    plain = OCRPipeline(OCRConfig())
    turned = np.ascontiguousarray(load_image(game_ui[0].image)[::-1, ::-1])
    before = next(plain.predict(turned))
    assert "textline_orientation" not in plain._classifiers and set(before["textline_orientation_angles"]) == {-1}
    oriented = next(plain.predict(turned, use_textline_orientation=True))
    assert oriented["textline_orientation_angles"].count(1) >= len(oriented["rec_texts"]) - 1 >= 2
    assert oriented["rec_texts"] != before["rec_texts"]
    assert next(OCRPipeline(OCRConfig(use_textline_orientation=True)).predict(turned))["rec_texts"] == \
        oriented["rec_texts"]
    again = next(plain.predict(turned, use_textline_orientation=False))
    assert again["rec_texts"] == before["rec_texts"] and set(again["textline_orientation_angles"]) == {-1}


def test_a_classifier_that_is_not_installed_is_a_config_error_naming_the_fetch(tmp_path, monkeypatch, pipeline,
                                                                              game_ui):
    monkeypatch.setattr(pipeline, "_classifiers", {})
    monkeypatch.setattr(pipeline, "models", replace(pipeline.models, orientation=None))
    monkeypatch.setenv("TRITON_OCR_HOME", str(tmp_path))
    with pytest.raises(ConfigError, match="use_textline_orientation: .*triton-ocr models fetch"):
        next(pipeline.predict(game_ui[0].image, use_textline_orientation=True))


@pytest.fixture(scope="module")
def oriented() -> OCRPipeline:
    return OCRPipeline(OCRConfig(use_textline_orientation=True))


@pytest.fixture(scope="module")
def game_ui(shared_data):
    return load_dataset("cn_game_ui", shared_data).samples[:GAME_UI_IMAGES]


def test_classifier_on_real_line_crops(oriented, game_ui):
    """Crops detected in real screenshots. Measured on these 16 images: 1 of 55 upright crops and 52 of 55 turned
    crops are flagged (on 40 images: 0.7% and 95.5%)."""
    cfg = oriented.config
    crops = []
    for sample in game_ui:
        image = load_image(sample.image)
        prob_map = oriented.det_model(det_input(image, cfg.text_det))
        crops += line_crops(image, boxes_from_prob_map(prob_map, image.shape[:2], cfg.text_det))

    def flagged(lines: list[np.ndarray]) -> float:
        probs = np.concatenate([oriented.classifier("textline_orientation")(b) for b in orientation_batches(lines, cfg.textline_orientation)])
        return float(upside_down(probs, cfg.textline_orientation).mean())

    assert len(crops) >= 40
    assert flagged(crops) <= 0.05
    assert flagged([np.ascontiguousarray(c[::-1, ::-1]) for c in crops]) >= 0.9


def rotated_180(lines: tuple[GTLine, ...], height: int, width: int) -> list[GTLine]:
    """Ground truth of the image turned by 180°: every point (x, y) → (W-1-x, H-1-y)."""
    return [GTLine(np.stack([width - 1 - g.poly[:, 0], height - 1 - g.poly[:, 1]], 1), g.text, g.ignore) for g in lines]


def test_upside_down_images_are_read_with_orientation_on(oriented, game_ui):
    """Line CER on real screenshots turned by 180° (np.rot90(image, 2)), ground truth turned likewise.
    Measured on these 16 images (693 characters): upright 4.8% (orientation off and on alike), turned with
    orientation on 12.6%, turned with it off 99.7% (on 40 images: 4.1%, 6.7%, 99.2%). What on does not recover
    is mostly the detector's: on the turned image it splits or misses some lines differently."""
    off = oriented.config.with_overrides(use_textline_orientation=False)
    cer = {key: CERCounts() for key in ("upright", "upright_on", "turned_off", "turned_on")}
    for sample in game_ui:
        image = load_image(sample.image)
        turned = np.ascontiguousarray(np.rot90(image, 2))
        turned_gt = rotated_180(sample.lines, *image.shape[:2])
        for key, picture, config, gt in (
            ("upright", image, off, sample.lines),
            ("upright_on", image, None, sample.lines),
            ("turned_off", turned, off, turned_gt),
            ("turned_on", turned, None, turned_gt),
        ):
            lines = oriented.ocr(picture, config)
            cer[key] += line_cer_counts(gt, list(lines.polys), lines.texts, fold_width_and_spaces)
    rates = {key: counts.cer for key, counts in cer.items()}
    assert cer["upright"].chars > 500
    assert rates["upright_on"] <= rates["upright"] + 0.01, rates
    assert rates["turned_on"] <= 0.15, rates
    assert rates["turned_off"] >= 0.9, rates
