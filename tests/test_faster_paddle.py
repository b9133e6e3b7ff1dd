"""faster-paddle 1.0.4, the peer that ``triton-ocr bench`` and ``triton-ocr eval`` run in the reference environment
(``.venv-reference``, ``scripts/reference_env.sh``): its result turned into lines (no environment needed), then the
real engine on a rendered page through the runner, the benchmark's engine and the evaluation.

The real-engine tests skip only where ``.venv-reference`` is absent; CI builds it (``scripts/setup.sh --dev``), so
there they run. An older environment without faster-paddle fails them: rerun ``scripts/reference_env.sh``."""

from __future__ import annotations

import json
import resource

import numpy as np
import pytest

from imagegen import encode, render_lines
from triton_ocr.config import OCRConfig
from triton_ocr.errors import ConfigError
from triton_ocr.eval.faster_paddle_runner import to_lines
from triton_ocr.eval.reference_process import PYTHON, lines_of

LINES = ["Hello World 2026", "发票号码 12345", "Total: 88.50"]
"""Rendered at x = 30, y = 30 + 70 · row, 36 px high; both model sizes read them exactly."""

needs_env = pytest.mark.skipif(
    not PYTHON.is_file(), reason=f"the reference environment is absent ({PYTHON}): run scripts/reference_env.sh"
)


def test_bounds_become_polygons_texts_and_scores_in_index_order() -> None:
    result = {
        "text": "b\na", "structured_text": "b a",
        "bounds": {
            "10": {"topLeftCoord": (5, 300), "bottomRightCoord": (50, 320), "text": "last", "confidence": 0.5},
            1: {"topLeftCoord": (29, 101), "bottomRightCoord": (285, 140), "text": "发票号码", "confidence": 0.25},
            0: {"topLeftCoord": [28, 32], "bottomRightCoord": [309, 69], "text": "Hello", "confidence": 0.75},
            "2": {"topLeftCoord": (7, 200), "bottomRightCoord": (9, 210), "text": "", "confidence": 1},
        },
    }
    expected = {
        "polys": [
            [[28.0, 32.0], [309.0, 32.0], [309.0, 69.0], [28.0, 69.0]],
            [[29.0, 101.0], [285.0, 101.0], [285.0, 140.0], [29.0, 140.0]],
            [[7.0, 200.0], [9.0, 200.0], [9.0, 210.0], [7.0, 210.0]],
            [[5.0, 300.0], [50.0, 300.0], [50.0, 320.0], [5.0, 320.0]],
        ],
        "texts": ["Hello", "发票号码", "", "last"],
        "scores": [0.75, 0.25, 1.0, 0.5],
    }
    assert to_lines(result) == expected
    assert to_lines({"text": "", "structured_text": "", "bounds": {}}) == {"polys": [], "texts": [], "scores": []}

    # What the process makes of the runner's answer, after the trip through JSON.
    lines = lines_of(json.loads(json.dumps({"path": "x", **expected, "seconds": 0.1})))
    assert lines.polys.dtype == np.float32 and lines.polys.shape == (4, 4, 2)
    assert lines.polys[1].tolist() == expected["polys"][1]
    assert lines.texts == expected["texts"]
    assert lines.rec_scores.tolist() == expected["scores"]
    assert lines.det_scores.tolist() == [1.0] * 4


def test_eval_and_bench_name_the_peer_by_size() -> None:
    from triton_ocr.bench.inprocess import ENGINES, make_engine
    from triton_ocr.eval.command import parse_engines

    assert parse_engines("faster-paddle,faster-paddle:tiny,ours", None) == [
        "faster-paddle:small", "faster-paddle:tiny", "ours"]
    assert "faster-paddle:SIZE" in ENGINES
    with pytest.raises(ConfigError):
        parse_engines("faster-paddle:medium", None)  # downloaded on first use: not offered
    with pytest.raises(ConfigError):
        make_engine("faster-paddle:medium", "OCR")


@pytest.fixture(scope="module")
def page() -> np.ndarray:
    return render_lines(LINES, size=(640, 260))


def assert_reads_the_page(lines) -> None:  # noqa: ANN001 - OCRLines
    assert lines.texts == LINES
    assert lines.polys.shape == (3, 4, 2)
    for row, poly in enumerate(lines.polys):
        (x1, y1), (x2, y2) = poly[0], poly[2]
        assert poly.tolist() == [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]  # axis-aligned, tl tr br bl
        assert 15 <= x1 <= 40 and x2 > 150 and y1 < 30 + 70 * row + 18 < y2
    assert np.all(lines.rec_scores > 0.9)


@needs_env
@pytest.mark.parametrize("size", ["small", "tiny"])
def test_process_reads_the_encoded_file_and_the_decoded_image_alike(size: str, page: np.ndarray) -> None:
    from triton_ocr.eval.faster_paddle_process import FasterPaddleProcess

    process = FasterPaddleProcess(size, threads=2)
    try:
        from_file = process.ocr_encoded(encode(page, "PNG"))
        assert_reads_the_page(from_file)
        assert process.cpu_seconds > 0  # the child's CPU time, every thread
        from_array = process.ocr(page)  # the evaluation's hand-over: a BMP of the same pixels
        assert from_array.texts == from_file.texts
        np.testing.assert_array_equal(from_array.polys, from_file.polys)
        with pytest.raises(RuntimeError, match=f"faster-paddle {size}"):
            process.ocr_encoded(b"not an image")
        assert process.ocr_encoded(encode(page, "PNG")).texts == LINES  # still serving after a failure
    finally:
        process.close()
    assert process.process is not None and process.process.returncode == 0


@needs_env
def test_bench_engine_takes_the_encoded_bytes_and_counts_the_child(page: np.ndarray) -> None:
    from triton_ocr.bench.inprocess import make_engine, peak_rss

    engine = make_engine("faster-paddle:tiny", "OCR")
    try:
        assert_reads_the_page(engine(encode(page, "PNG")))
        assert peak_rss() > resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # the child's peak too
    finally:
        engine.__self__.close()


@needs_env
def test_eval_scores_the_peer_and_leaves_out_the_word_crops(shared_data) -> None:  # noqa: ANN001
    from triton_ocr.eval.runner import run_evaluation

    results = list(run_evaluation(["sroie_receipts", "icdar2015_words"], ["faster-paddle:small"], OCRConfig(),
                                  shared_data, limit=1))
    assert [(r.dataset, r.engine, r.images) for r in results] == [("sroie_receipts", "faster-paddle:small", 1)]
    metrics = results[0].metrics
    assert metrics["det_gt"] > 0 and metrics["cer_chars"] > 0
    assert metrics["det_hmean"] > 0.5 and metrics["char_f1"] > 0.8  # a clean scanned receipt
    assert {"cer", "page_cer", "char_f1"} <= metrics.keys()
    assert results[0].speed.cpu_ms > 0
