"""Dataset loaders on the real dev data (../shared/data), and a smoke run of ``triton-ocr eval``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from triton_ocr.cli import main
from triton_ocr.errors import ConfigError
from triton_ocr.eval.datasets import Dataset, Sample, load_dataset

# Sizes given by ../shared/data/README.md.
EXPECTED_SIZES = {
    "icdar2015_blurred": 250,
    "icdar2015_words": 2077,
    "sroie_receipts": 32,
    "funsd": 25,
    "cn_game_ui": 276,
    "cnocr_examples": 22,
}


def sample_named(dataset: Dataset, name: str) -> Sample:
    return next(s for s in dataset.samples if s.image.name == name)


@pytest.mark.parametrize("name", EXPECTED_SIZES)
def test_every_labelled_set_loads_with_existing_images(shared_data, name):
    dataset = load_dataset(name, shared_data)
    assert len(dataset) == EXPECTED_SIZES[name]
    assert all(sample.image.is_file() for sample in dataset.samples)
    assert all(sample.lines for sample in dataset.samples)


def test_icdar2015_lines_split_at_eight_commas_and_mark_dont_care(shared_data):
    dataset = load_dataset("icdar2015_blurred", shared_data)
    first = sample_named(dataset, "img_10.jpg").lines[0]
    assert first.text == "Please" and not first.ignore  # CRLF file: no trailing "\r"
    np.testing.assert_array_equal(first.poly, [[27, 17], [103, 22], [106, 47], [30, 45]])
    dont_care, word = sample_named(dataset, "img_100.jpg").lines[:2]
    assert dont_care.text == "###" and dont_care.ignore
    assert word.text == "diverse" and not word.ignore


def test_sroie_text_keeps_its_commas(shared_data):
    sample = sample_named(load_dataset("sroie_receipts", shared_data), "000.jpg")
    assert sample.image.parent.name == "img"
    assert [line.text for line in sample.lines[:4]] == [
        "TAN WOON YANN",
        "BOOK TA .K(TAMAN DAYA) SDN BND",
        "789417-W",
        "NO.53 55,57 & 59, JALAN SAGU 18,",
    ]
    np.testing.assert_array_equal(sample.lines[3].poly, [[110, 144], [383, 144], [383, 163], [110, 163]])


def test_funsd_segments_become_rectangles_and_empty_ones_are_ignored(shared_data):
    sample = sample_named(load_dataset("funsd", shared_data), "82092117.png")
    assert sample.lines[0].ignore and sample.lines[0].text == ""
    assert sample.lines[1].text == "TO:" and not sample.lines[1].ignore
    np.testing.assert_array_equal(sample.lines[1].poly, [[102, 345], [129, 345], [129, 359], [102, 359]])


def test_cn_game_ui_reads_points_and_difficult(shared_data):
    dataset = load_dataset("cn_game_ui", shared_data)
    first = sample_named(dataset, "1717506307_0_100.png").lines[0]
    assert first.text == "我要新鲜的云梦泽蛙肉1份！" and not first.ignore
    np.testing.assert_array_equal(first.poly, [[18, 5], [127, 5], [127, 20], [18, 20]])
    difficult = sample_named(dataset, "1717496540_1_75.png").lines[0]
    assert difficult.text == "拜会大荒神厨——鼓鸣。" and difficult.ignore


def test_box_less_sets(shared_data):
    words = load_dataset("icdar2015_words", shared_data)
    assert words.samples[0].image.name == "word_1.png" and words.samples[0].lines[0].text == "JOINT"
    assert words.samples[-1].lines[0].text == "Underpass" and words.samples[-1].lines[0].poly is None
    cnocr = load_dataset("cnocr_examples", shared_data)
    assert cnocr.samples[0].lines[0].text == "就会哈哈大笑。3.0"
    assert len(sample_named(cnocr, "multi-line_cn1.png").lines) == 7


def test_unknown_or_missing_set_is_a_config_error(shared_data, tmp_path):
    with pytest.raises(ConfigError, match="unknown dataset"):
        load_dataset("nope", shared_data)
    with pytest.raises(ConfigError, match="--data"):
        load_dataset("funsd", tmp_path)


def test_eval_command_smoke(shared_data, tmp_path, capsys):
    report = tmp_path / "eval.json"
    args = ["eval", "--data", str(shared_data), "--sets", "sroie_receipts", "--limit", "2", "--engine", "ours"]
    assert main([*args, "--json", str(report)]) == 0
    assert "| sroie_receipts | ours | 2 |" in capsys.readouterr().out
    (result,) = json.loads(report.read_text(encoding="utf-8"))["results"]
    assert (result["dataset"], result["engine"], result["images"]) == ("sroie_receipts", "ours", 2)
    metrics = result["metrics"]
    for key in ("det_precision", "det_recall", "det_hmean", "cer"):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["det_gt"] > 0 and metrics["cer_chars"] > 0
    assert metrics["det_hmean"] > 0.5  # clean scanned receipts: most lines are found
    speed = result["speed"]
    assert speed["images_per_s"] > 0 and 0 < speed["p50_ms"] <= speed["p95_ms"]


def test_eval_engines_variants_and_limits_parse_or_are_refused():
    from triton_ocr.eval.command import parse_engines, parse_limit

    assert parse_engines("both", None) == ["ours", "rapidocr"]
    assert parse_engines("rapidocr3,ours", "PP-OCRv4_mobile:bf16,PP-OCRv6_small:fp32") == [
        "rapidocr3", "ours:PP-OCRv4_mobile:bf16", "ours:PP-OCRv6_small:fp32"]
    assert len(parse_engines("ours", "all")) == 8  # four sets × two precisions
    assert parse_limit("cn_game_ui=100,funsd=3") == {"cn_game_ui": 100, "funsd": 3} and parse_limit("7") == 7
    for engines, variants in (("nope", None), ("ours", "PP-OCRv4_mobile"), ("ours", "PP-OCRv9:bf16")):
        with pytest.raises(ConfigError):
            parse_engines(engines, variants)
    for text in ("0", "funsd=x", "nope=3"):
        with pytest.raises(ConfigError):
            parse_limit(text)


def test_eval_table_has_a_legend_and_marks_incomparable_sets():
    from triton_ocr.eval.command import format_legend, format_table
    from triton_ocr.eval.runner import SetResult, Speed

    speed = Speed(1.0, 10.0, 20.0, 5.0, 30.0)
    results = [
        SetResult("funsd", "ours", 2, {"cer": 0.5, "page_cer": 0.4, "char_f1": 0.8}, speed),
        SetResult("sroie_receipts", "ours", 2, {"det_precision": 0.9, "det_recall": 0.8, "det_hmean": 0.85,
                                                "cer": 0.1, "page_cer": 0.1, "char_f1": 0.9}, speed),
    ]
    table = format_table(results)
    assert "| funsd (!) | ours | 2 |" in table and "| sroie_receipts | ours | 2 |" in table
    legend = format_legend(results).splitlines()
    headers = ["det P %", "det R %", "det H %", "CER %", "page CER %", "char F1 %", "img/s", "p50 ms", "p95 ms",
               "CPU ms/img"]
    assert [line.split(":")[0] for line in legend[1:11]] == [f"- {h}" for h in headers]
    assert legend[11] == "Marked (!), not comparable with published figures:"
    assert legend[12].startswith("- funsd: segment-level labels") and len(legend) == 13
    assert "icdar2015_blurred" in format_legend([SetResult("icdar2015_blurred", "ours", 1, {}, speed)])
