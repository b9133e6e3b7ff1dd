"""Word boxes (``return_word_box``): the CTC alignment step on hand-made best paths whose answers are worked out by
hand, then the in-process pipeline on rendered lines whose word boxes Pillow measures."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from triton_fixtures import data_folder
from triton_ocr.config import OCRConfig
from triton_ocr.eval.word_boxes import LabelledWord, measure, score_line
from triton_ocr.fonts import find_font
from triton_ocr.pipeline import OCRPipeline
from triton_ocr.steps.ctc_decode import ctc_runs
from triton_ocr.steps.word_boxes import group_words, line_words

CHARSET = ["blank", "a", "b", "c", "d", " ", "你", "好"]


def path_of(steps: int, placed: dict[tuple[int, int], str]) -> np.ndarray:
    """A best path of ``steps`` steps: blanks, and each character of :data:`CHARSET` over its (first, last) steps."""
    classes = np.zeros(steps, np.int64)
    for (first, last), char in placed.items():
        classes[first : last + 1] = CHARSET.index(char)
    return classes


def test_ctc_runs_keep_what_the_collapse_keeps_with_their_steps():
    kept, starts, ends = ctc_runs(np.array([0, 3, 3, 0, 5, 5, 5, 0, 3, 1]))
    assert kept.tolist() == [3, 5, 3, 1] and starts.tolist() == [1, 4, 8, 9] and ends.tolist() == [2, 6, 8, 9]
    assert [a.tolist() for a in ctc_runs(np.zeros(4, np.int64))] == [[], [], []]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Date: 10 '98", [(0, 4), (6, 7), (9, 11)]),  # punctuation stays in its word
        ("  a  b ", [(2, 2), (5, 5)]),
        ("你好 ok世界!", [(0, 0), (1, 1), (3, 4), (5, 5), (6, 6), (7, 7)]),  # each CJK character alone; "!" too
        ("", []),
    ],
)
def test_words_split_at_spaces_and_around_each_cjk_character(text, expected):
    assert group_words(list(text)) == expected


# An axis-aligned 200 × 20 line at (100, 50); its crop is 20 × 200, recognised as 60 steps (the 480 px the crop
# takes at height 48, in a 480 px wide input). "ab cd": a at step 5, b at 10–11, space at 20, c at 30, d at 35.
# Centres 5.5, 11, 20.5, 30.5, 35.5 → pitches 5.5, 9.5, 10, 5 → median 7.5, so words reach 3.75 steps beyond their
# outer characters: "ab" spans steps 1.75–14.75, "cd" 26.75–39.25, i.e. 200 px × step / 60 from the line's left.
AB_CD = path_of(60, {(5, 5): "a", (10, 11): "b", (20, 20): " ", (30, 30): "c", (35, 35): "d"})
AB_X = (100 + 200 * 1.75 / 60, 100 + 200 * 14.75 / 60)  # 105.833, 149.167
CD_X = (100 + 200 * 26.75 / 60, 100 + 200 * 39.25 / 60)  # 189.167, 230.833


def rect(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)


def test_words_map_from_steps_to_the_line_in_the_image():
    quad = rect(100, 50, 300, 70)
    words, polys = line_words(AB_CD, CHARSET, 60.0, quad, (20, 200))
    assert words == ["ab", "cd"]
    np.testing.assert_allclose(polys, [rect(AB_X[0], 50, AB_X[1], 70), rect(CD_X[0], 50, CD_X[1], 70)], atol=1e-3)


def test_only_the_steps_the_line_covers_count():
    """The same path when the line fills only 38 of the 60 steps (the rest is padding): positions scale by 60/38,
    and "cd" (to step 39.25) ends at the line's end."""
    words, polys = line_words(AB_CD, CHARSET, 38.0, rect(100, 50, 300, 70), (20, 200))
    assert words == ["ab", "cd"]
    np.testing.assert_allclose(polys[:, 0, 0], [100 + 200 * 1.75 / 38, 100 + 200 * 26.75 / 38], atol=1e-3)
    np.testing.assert_allclose(polys[:, 1, 0], [100 + 200 * 14.75 / 38, 300.0], atol=1e-3)


def test_an_upside_down_crop_reads_its_words_from_the_right():
    """The classifier turned the crop by 180°: step 0 is the line's right end in the image."""
    words, polys = line_words(AB_CD, CHARSET, 60.0, rect(100, 50, 300, 70), (20, 200), upside_down=True)
    assert words == ["ab", "cd"]
    mirrored = [rect(400 - AB_X[1], 50, 400 - AB_X[0], 70), rect(400 - CD_X[1], 50, 400 - CD_X[0], 70)]
    np.testing.assert_allclose(polys, mirrored, atol=1e-3)


def test_a_vertical_line_reads_its_words_downwards():
    """A 20 × 200 line standing upright is cropped turned 90° counter-clockwise (a 20 × 200 crop): its reading
    direction is the image's y axis, top first."""
    words, polys = line_words(AB_CD, CHARSET, 60.0, rect(100, 50, 120, 250), (20, 200))
    assert words == ["ab", "cd"]
    expected = [rect(100, 50 + AB_X[0] - 100, 120, 50 + AB_X[1] - 100), rect(100, 50 + CD_X[0] - 100, 120,
                                                                            50 + CD_X[1] - 100)]
    np.testing.assert_allclose(polys, expected, atol=1e-3)


def test_a_one_character_line_is_one_word_over_the_whole_line_and_blanks_give_none():
    words, polys = line_words(path_of(60, {(7, 8): "你"}), CHARSET, 60.0, rect(0, 0, 30, 30), (30, 30))
    assert words == ["你"]
    np.testing.assert_allclose(polys, [rect(0, 0, 30, 30)], atol=1e-3)
    words, polys = line_words(path_of(60, {(7, 8): " "}), CHARSET, 60.0, rect(0, 0, 30, 30), (30, 30))
    assert words == [] and polys.shape == (0, 4, 2)


LINE = ("invoice", "total", "2051", "queue")


def rendered_words(upside_down: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:
    """A white BGR image with one line of :data:`LINE` and each word's ink box (x0, y0, x1, y1) as Pillow draws it."""
    font = ImageFont.truetype(str(find_font()), 34)
    image = Image.new("RGB", (720, 120), "white")
    draw = ImageDraw.Draw(image)
    x, boxes = 40, []
    for word in LINE:
        boxes.append(np.array(draw.textbbox((x, 40), word, font=font), np.float64))
        draw.text((x, 40), word, fill="black", font=font)
        x = int(boxes[-1][2]) + 22
    bgr = np.asarray(image)[:, :, ::-1]
    if upside_down:
        bgr = bgr[::-1, ::-1]
        boxes = [np.array([720 - b[2], 120 - b[3], 720 - b[0], 120 - b[1]]) for b in boxes]
    return np.ascontiguousarray(bgr), boxes


@pytest.mark.parametrize("upside_down", [False, True])
def test_the_pipeline_returns_each_words_box(upside_down):
    """Each word's box spans the word Pillow drew — horizontally (IoU of the x ranges ≥ 0.8), and over the line's
    height, so its ink vertically — on an upright line and on one the text-line classifier turns (its words still
    in reading order)."""
    pipeline = OCRPipeline(OCRConfig(use_textline_orientation=upside_down))
    image, boxes = rendered_words(upside_down)
    result = next(pipeline.predict(image, return_word_box=True))
    assert result["rec_texts"] == [" ".join(LINE)] and result["text_word"] == [list(LINE)]
    assert result["textline_orientation_angles"] == [1 if upside_down else -1]
    region, word_boxes = result["text_word_region"][0], result["text_word_boxes"][0]
    assert region.shape == (4, 4, 2) and word_boxes.dtype == np.int64
    np.testing.assert_array_equal(word_boxes, np.concatenate([region.min(1), region.max(1)], 1).round())
    for box, ink in zip(word_boxes, boxes, strict=True):
        overlap = min(box[2], ink[2]) - max(box[0], ink[0])
        assert overlap / (max(box[2], ink[2]) - min(box[0], ink[0])) >= 0.8, (box, ink)
        assert box[1] <= ink[1] + 1 and box[3] >= ink[3] - 1, (box, ink)
    assert "text_word" not in next(pipeline.predict(image))


def test_funsd_scoring_takes_only_lines_read_with_the_labelled_words():
    labelled = [
        LabelledWord("Date:", np.array([10.0, 10, 50, 30])),
        LabelledWord("10", np.array([60.0, 10, 80, 30])),
        LabelledWord("far", np.array([10.0, 200, 50, 230])),  # another line
    ]
    line = np.array([5.0, 5, 90, 35])
    ious = score_line(["Date:", "10"], np.array([[10, 10, 50, 30], [60, 10, 90, 30]]), line, labelled)
    assert ious == pytest.approx([1.0, 2 / 3])  # 20 × 20 of 30 × 20
    assert score_line(["Date:10"], np.array([[10, 10, 80, 30]]), line, labelled) is None  # split otherwise


@pytest.mark.slow
def test_funsd_word_boxes_fit_the_labelled_words():
    """On FUNSD's forms, ≥ 80 % of the words of lines read with FUNSD's words overlap their labelled box with
    IoU ≥ 0.5 (protocol: :mod:`triton_ocr.eval.word_boxes`)."""
    root = data_folder("funsd").parent
    score = measure(OCRPipeline(OCRConfig()), root)
    print(score.summary())
    assert len(score.ious) >= 1000 and score.hit_rate >= 0.8
