"""The in-process pipeline end to end on rendered images whose text is known, and its PaddleX-style API."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from imagegen import encode, png_header, render_lines, word_grid
from PIL import Image

from triton_ocr import create_pipeline
from triton_ocr.models.registry import with_model_settings
from triton_ocr.config import OCRConfig
from triton_ocr.errors import ConfigError, ImageTooLargeError, ImageTooSmallError, InputNotFoundError, InvalidImageError

LINES = ["Invoice 2024-0117", "总计金额 128.50 元", "Thank you"]


@pytest.fixture(scope="module")
def page() -> np.ndarray:
    return render_lines(LINES, size=(700, 260))


def test_reads_rendered_lines_in_order(pipeline, page):
    lines = pipeline.ocr(page)
    # PP-OCRv4's Chinese recogniser drops most spaces between words; compare without them.
    assert [t.replace(" ", "") for t in lines.texts] == [t.replace(" ", "") for t in LINES]
    assert lines.polys.shape == (3, 4, 2) and lines.polys.dtype == np.float32
    tops = lines.polys[:, 0, 1]
    assert np.all(np.diff(tops) > 40)  # rendered 70 px apart, top to bottom
    assert abs(tops[0] - 30) < 12 and abs(lines.polys[0, 0, 0] - 30) < 12  # first line drawn at (30, 30)
    assert (lines.rec_scores > 0.8).all() and (lines.det_scores > 0.6).all()


def test_recognition_streams_read_as_one_stream_does(pipeline):
    """The default OpenVINO recogniser runs two chunks at once (two streams, a thread each): the same lines, texts,
    scores and order as on one stream, on a page of 16 chunks."""
    from conftest import local_pipeline

    assert pipeline.rec_model.compiled._compiled.get_property("NUM_STREAMS") == 2
    single = local_pipeline(OCRConfig(runtime={"rec_streams": 1}))
    assert single.rec_model.compiled._compiled.get_property("NUM_STREAMS") == 1
    image, words = word_grid(rows=12, cols=8)
    two, one = pipeline.ocr(image), single.ocr(image)
    assert len(one) >= 90 and two.texts == one.texts
    np.testing.assert_allclose(two.rec_scores, one.rec_scores, atol=1e-6)
    np.testing.assert_array_equal(two.polys, one.polys)


def test_recognition_streams_are_refused_where_they_cannot_run():
    from triton_ocr.config import RuntimeConfig

    assert [RuntimeConfig(**fields).recognition_streams for fields in (
        {}, {"intra_op_threads": 1}, {"intra_op_threads": 0}, {"intra_op_threads": 4}, {"engine": "onnxruntime"},
        {"rec_streams": 3, "intra_op_threads": 3},
    )] == [2, 1, 2, 2, 1, 3]
    with pytest.raises(ConfigError, match="runtime.rec_streams 2: only the openvino engine"):
        OCRConfig().with_overrides(runtime={"engine": "onnxruntime", "rec_streams": 2})
    with pytest.raises(ConfigError, match="runtime.rec_streams 4 needs at least as many intra_op_threads"):
        OCRConfig().with_overrides(runtime={"rec_streams": 4})


def test_image_without_text_gives_empty_result(pipeline):
    rng = np.random.default_rng(0)
    blank = np.full((300, 400, 3), 255, np.uint8)
    smooth = np.clip(rng.normal(128, 3, (300, 400, 3)), 0, 255).astype(np.uint8)
    for image in (blank, smooth):
        lines = pipeline.ocr(image)
        assert len(lines) == 0 and lines.polys.shape == (0, 4, 2)


def test_more_than_a_thousand_boxes(pipeline):
    image, words = word_grid(rows=34, cols=30)
    config = OCRConfig().with_overrides(text_det={"limit_side_len": 2112, "max_candidates": 2000})
    lines = pipeline.ocr(image, config)
    read = [int(t) for t in lines.texts if t in set(words)]
    assert len(read) > 0.95 * len(words), f"only {len(read)} of {len(words)} grid words read"
    assert read == sorted(read), "grid words are not in reading order"


def test_predict_accepts_every_input_kind(pipeline, page, tmp_path):
    (tmp_path / "a.png").write_bytes(encode(page))
    (tmp_path / "b.jpg").write_bytes(encode(page, "JPEG"))
    (tmp_path / "notes.txt").write_text("not an image")
    inputs = [page, {"img": str(tmp_path / "a.png")}, str(tmp_path), encode(page)]
    results = list(pipeline.predict(inputs))
    assert [r["input_path"] for r in results] == [
        None, str(tmp_path / "a.png"), str(tmp_path / "a.png"), str(tmp_path / "b.jpg"), None,
    ]
    for result in results:
        assert set(result) >= {"input_path", "dt_polys", "dt_scores", "rec_text", "rec_score"}  # + PaddleX 3.x's
        assert len(result["dt_polys"]) == len(result["rec_text"]) == len(result["rec_score"]) == 3


def test_predict_overrides_per_call(pipeline, page):
    strict = next(pipeline.predict(page, text_rec={"score_thresh": 1.0}))
    assert strict["rec_text"] == []
    with pytest.raises(ConfigError):
        next(pipeline.predict(page, text_det={"thresh": 7}))


@pytest.mark.parametrize(
    "source, error",
    [
        (b"\x89PNG\r\n\x1a\n broken", InvalidImageError),
        (png_header(20000, 20000), ImageTooLargeError),
        (np.zeros((1, 1, 3), np.uint8), ImageTooSmallError),
        ("/no/such/image.png", InputNotFoundError),
    ],
    ids=["corrupt", "png-bomb", "1x1", "missing"],
)
def test_bad_inputs_raise_typed_errors(pipeline, source, error):
    with pytest.raises(error):
        next(pipeline.predict(source))


def test_result_print_and_save(pipeline, page, tmp_path, capsys):
    (tmp_path / "in.png").write_bytes(encode(page))
    result = next(pipeline.predict(str(tmp_path / "in.png")))
    result.print()
    printed = json.loads(capsys.readouterr().out)["res"]
    assert [t.replace(" ", "") for t in printed["rec_text"]] == [t.replace(" ", "") for t in LINES]
    assert all(len(poly) == 4 and all(isinstance(v, int) for p in poly for v in p) for poly in printed["dt_polys"])

    saved = json.loads(result.save_to_json(tmp_path / "out").read_text(encoding="utf-8"))
    assert saved["res"] == printed and "总计金额" in (tmp_path / "out" / "in_ocr.json").read_text(encoding="utf-8")
    assert json.loads(result.save_to_json(tmp_path / "named.json").read_text(encoding="utf-8"))["res"] == printed

    picture = Image.open(result.save_to_img(tmp_path / "out"))
    assert picture.size == (2 * page.shape[1], page.shape[0])
    right_half = np.asarray(picture)[:, page.shape[1] :]
    assert (right_half < 128).any()  # the recognised text is drawn on the right


def test_result_print_takes_paddlex_names_and_prints_polygons_compactly(pipeline, page, capsys):
    """PaddleX 3.x's ``print(json_format=..., indent=..., ensure_ascii=...)``: by default a polygon per line (still
    JSON), ``json_format=True`` the JSON fully indented; ``format_json`` is the older name."""
    result = next(pipeline.predict(page))
    polygon = re.compile(r"^ {12}\[\[\d+, \d+\], \[\d+, \d+\], \[\d+, \d+\], \[\d+, \d+\]\],?$")

    def printed(**kwargs: object) -> str:
        result.print(**kwargs)
        return capsys.readouterr().out

    compact = printed()
    assert compact == result.str + "\n" and json.loads(compact) == result.json
    assert sum(bool(polygon.match(line)) for line in compact.splitlines()) == 2 * len(LINES)  # dt_polys, rec_polys
    full = printed(json_format=True)
    assert json.loads(full) == result.json and not any(polygon.match(line) for line in full.splitlines())
    assert printed(format_json=True) == full and printed(format_json=False) == compact
    assert printed(indent=2).startswith('{\n  "res": {\n    "input_path"')
    assert "\\u603b" in printed(ensure_ascii=True) and "总" in compact


def test_pipeline_yaml_round_trip(tmp_path):
    from triton_ocr.cli import main

    assert main(["--get_pipeline_config", "OCR", "--save_path", str(tmp_path)]) == 0
    yaml_path = tmp_path / "OCR.yaml"
    written = OCRConfig.from_yaml(yaml_path)
    assert written == with_model_settings(OCRConfig()) and written.text_det.model == "PP-OCRv6_small_det"
    assert yaml_path.read_text().startswith("# The PP-OCRv6_small pipeline")
    yaml_path.write_text(yaml_path.read_text().replace("box_thresh: 0.5", "box_thresh: 0.45"))
    assert create_pipeline(str(yaml_path)).config.text_det.box_thresh == 0.45
    yaml_path.write_text("text_det:\n  no_such_field: 1\n")
    with pytest.raises(ConfigError, match="no_such_field"):
        create_pipeline(str(yaml_path))


def test_cli_reads_a_file_and_saves(page, tmp_path, capsys):
    from triton_ocr.cli import main

    (tmp_path / "page.png").write_bytes(encode(page))
    assert main(["--pipeline", "OCR", "--input", str(tmp_path / "page.png"), "--save_path", str(tmp_path)]) == 0
    assert "Thank" in capsys.readouterr().out
    assert (tmp_path / "page_ocr.json").is_file() and (tmp_path / "page_ocr.png").is_file()


@pytest.mark.parametrize(
    "make_args, message, code",
    [
        (lambda d: ["--input", str(d / "missing.png")], "no such file", 2),
        (lambda d: ["--input", str(d / "corrupt.png")], "cannot decode", 2),  # the only input failed: bad input
        (lambda d: ["--pipeline", str(d / "bad.yaml"), "--input", str(d / "corrupt.png")], "unknown model", 2),
    ],
    ids=["missing", "corrupt", "unknown-model"],
)
def test_cli_errors_are_one_line_and_nonzero(tmp_path, capsys, make_args, message, code):
    from triton_ocr.cli import main

    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnope")
    (tmp_path / "bad.yaml").write_text("text_rec:\n  model: PP-OCRv9_imaginary_rec\n")
    assert main(make_args(tmp_path)) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("triton-ocr: error:") and message in err[0]


def test_cli_folder_with_a_bad_file_reports_it_and_reads_the_rest(page, tmp_path, capsys):
    from triton_ocr.cli import main

    (tmp_path / "a_bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnope")
    (tmp_path / "b_good.png").write_bytes(encode(page))
    assert main(["--input", str(tmp_path), "--quiet", "--save_path", str(tmp_path / "out")]) == 1
    assert "a_bad.png: cannot decode" in capsys.readouterr().err
    assert json.loads((tmp_path / "out" / "b_good_ocr.json").read_text())["res"]["input_path"].endswith("b_good.png")
