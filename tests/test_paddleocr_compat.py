"""PaddleOCR 3.x users: ``from triton_ocr import PaddleOCR`` with PaddleOCR's parameters, ``lang`` and
``ocr_version`` choosing a model set (a language no set reads refused, naming those that are), its 2.x names with
its warning, and ``triton-ocr ocr`` with ``paddleocr ocr``'s flags."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from imagegen import encode, render_lines

from triton_ocr import PaddleOCR, cli
from triton_ocr.config import OCRConfig
from triton_ocr.errors import ConfigError
from triton_ocr.models.languages import LATIN, model_set_for

DATA = Path(__file__).parent / "data" / "paddleocr"
LINES = ["Hello PaddleOCR 3", "Invoice 2024-0117"]
QUIET = {"use_doc_orientation_classify": False, "use_doc_unwarping": False, "use_textline_orientation": False}


def squash(texts: list[str]) -> list[str]:
    return [t.replace(" ", "") for t in texts]


@pytest.fixture(scope="module")
def page() -> np.ndarray:
    return render_lines(LINES, size=(560, 170))


def test_the_quick_start_script_runs_with_only_its_import_changed(tmp_path, page):
    (tmp_path / "page.png").write_bytes(encode(page))
    script = (DATA / "quick_start.py").read_text(encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)["res"]
    assert squash(printed["rec_texts"]) == squash(LINES)
    assert printed["model_settings"] == {"use_doc_preprocessor": False, "use_textline_orientation": False}
    assert sorted(p.name for p in (tmp_path / "output").iterdir()) == ["page_ocr.json", "page_ocr.png"]
    assert "unwarping" not in done.stderr  # use_doc_unwarping=False said so


@pytest.mark.parametrize(
    ("params", "model_set", "limit"),
    [({"lang": "en"}, "PP-OCRv6_small", ("min", 736)), ({"ocr_version": "PP-OCRv5"}, "PP-OCRv5_mobile", ("max", 960)),
     ({"lang": "fr", "ocr_version": "PP-OCRv6"}, "PP-OCRv6_small", ("min", 736)),
     ({"lang": "en", "ocr_version": "PP-OCRv4"}, "PP-OCRv4_mobile", ("max", 960))],
)
def test_lang_and_ocr_version_choose_a_model_set(params, model_set, limit, page):
    ocr = PaddleOCR(**params, **QUIET)
    assert ocr.pipeline.config.model_set == model_set
    (res,) = ocr.predict(page)
    assert squash(res["rec_texts"]) == squash(LINES)
    assert (res["text_det_params"]["limit_type"], res["text_det_params"]["limit_side_len"]) == limit


@pytest.mark.parametrize(
    ("lang", "version", "message"),
    [("korean", None, "lang 'korean': no model set here reads it. Read: ch, chinese_cht, en, japan and the "
      "Latin-script languages (af, "),
     ("ru", None, "lang 'ru': no model set here reads it"),
     ("japan", "PP-OCRv4", "lang 'japan' with ocr_version PP-OCRv4: PP-OCRv4_mobile does not read it; "
      "PP-OCRv5_mobile, PP-OCRv6_small do"),
     ("ch", "PP-OCRv3", "ocr_version 'PP-OCRv3': use one of PP-OCRv6, PP-OCRv5, PP-OCRv4")],
)
def test_a_language_no_set_reads_is_refused_naming_those_that_are(lang, version, message):
    with pytest.raises(ConfigError) as refused:
        PaddleOCR(lang=lang, ocr_version=version, **QUIET)
    assert message in str(refused.value)
    if version is None:
        assert "text_recognition_model_dir=" in str(refused.value)


def test_every_language_code_maps_to_a_set_that_reads_its_script():
    assert {model_set_for(code, None) for code in ("ch", "en", "japan", "chinese_cht", *LATIN)} == {"PP-OCRv6_small"}
    assert model_set_for("chinese_cht", "PP-OCRv5") == "PP-OCRv5_mobile"
    with pytest.raises(ConfigError, match="PP-OCRv6_tiny, PP-OCRv6_small do"):
        model_set_for("de", "PP-OCRv5")


def test_paddleocrs_defaults_turn_pages_and_lines_and_say_unwarping_is_not_here(caplog):
    caplog.set_level(logging.WARNING)
    config = PaddleOCR().pipeline.config
    assert config.use_doc_orientation_classify and config.use_textline_orientation
    assert "document unwarping (UVDoc) is not available here" in caplog.text
    with pytest.raises(ConfigError, match="document unwarping"):
        PaddleOCR(use_doc_unwarping=True)


def test_2x_names_warn_as_paddleocr_does_and_unknown_names_are_refused():
    with pytest.warns(DeprecationWarning) as record:
        ocr = PaddleOCR(use_angle_cls=True, det_db_box_thresh=0.55, rec_batch_num=4, use_doc_unwarping=False)
    assert [str(w.message) for w in record] == [
        f"The parameter `{old}` has been deprecated and will be removed in the future. Please use `{new}` instead."
        for old, new in (("det_db_box_thresh", "text_det_box_thresh"), ("rec_batch_num", "text_recognition_batch_size"),
                         ("use_angle_cls", "use_textline_orientation"))
    ]
    config = ocr.pipeline.config
    assert config.use_textline_orientation and config.text_det.box_thresh == 0.55 and config.text_rec.batch_size == 4
    with pytest.raises(ConfigError, match="`use_angle_cls` and `use_textline_orientation` are mutually exclusive"), \
            pytest.warns(DeprecationWarning):
        PaddleOCR(use_angle_cls=True, use_textline_orientation=False)
    with pytest.raises(TypeError, match="'use_textline_orientaton' \\(did you mean use_textline_orientation"):
        PaddleOCR(use_textline_orientaton=False)
    with pytest.raises(ConfigError, match="enable_hpi=...\\): a Paddle Inference option"):
        PaddleOCR(enable_hpi=True)


def test_naming_a_sets_models_chooses_that_set_without_a_keeping_warning(caplog):
    caplog.set_level(logging.WARNING)
    with pytest.warns(UserWarning, match="`lang` and `ocr_version` will be ignored"):
        ocr = PaddleOCR(text_detection_model_name="PP-OCRv5_mobile_det",
                        text_recognition_model_name="PP-OCRv5_mobile_rec", lang="en", **QUIET)
    config = ocr.pipeline.config
    assert config.model_set == "PP-OCRv5_mobile" and config.text_det.box_thresh == 0.5  # the set's own settings
    assert "keeping" not in caplog.text


def test_parameters_reach_the_pipeline_and_predict_takes_paddleocrs_per_call_names(page):
    ocr = PaddleOCR(text_det_thresh=0.25, text_rec_score_thresh=0.6, text_rec_input_shape=(3, 48, 256), cpu_threads=1,
                    **QUIET)
    config = ocr.pipeline.config
    assert (config.text_det.thresh, config.text_rec.score_thresh, config.text_rec.min_width) == (0.25, 0.6, 256)
    assert config.runtime.intra_op_threads == 1
    (res,) = ocr.predict(page, use_textline_orientation=True, text_rec_score_thresh=0.3, return_word_box=True)
    assert res["model_settings"]["use_textline_orientation"] and res["text_rec_score_thresh"] == 0.3
    assert squash(["".join(words) for words in res["text_word"]]) == squash(LINES)
    with pytest.warns(DeprecationWarning, match="Please use `predict` instead"):
        assert squash(ocr.ocr(page)[0]["rec_texts"]) == squash(LINES)
    with pytest.raises(TypeError, match="'cls'"):
        ocr.predict(page, cls=True)


def test_the_ocr_command_takes_paddleocrs_flags(tmp_path, page, capsys):
    image = tmp_path / "img.png"
    image.write_bytes(encode(page))
    assert cli.main(["ocr", "-i", str(image), "--use_textline_orientation", "True", "--use_doc_unwarping", "False",
                     "--lang", "en", "--save_path", str(tmp_path / "out")]) == 0
    printed = json.loads(capsys.readouterr().out)["res"]
    assert squash(printed["rec_texts"]) == squash(LINES)
    assert printed["model_settings"] == {"use_doc_preprocessor": True, "use_textline_orientation": True}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["img_ocr.json", "img_ocr.png"]
    assert cli.main(["ocr", "-i", str(image), "--lang", "korean"]) == 2
    assert "lang 'korean': no model set here reads it" in capsys.readouterr().err
    with pytest.warns(DeprecationWarning, match="`use_angle_cls`"):
        assert cli.main(["ocr", "-i", str(image), "--use_angle_cls", "false", "--use_doc_unwarping", "false",
                         "--quiet"]) == 0


def test_a_language_in_a_pipeline_yaml_is_checked_against_its_set(tmp_path, page, capsys):
    """``lang`` in the pipeline YAML (the CLI's, a server's): a language no set reads, or one the named set does not
    read, is refused naming what is read; a set chosen per call must read it too."""
    korean = tmp_path / "korean.yaml"
    korean.write_text("lang: korean\n", encoding="utf-8")
    image = tmp_path / "img.png"
    image.write_bytes(encode(page))
    assert cli.main(["--pipeline", str(korean), "--input", str(image)]) == 2
    assert "lang 'korean': no model set here reads it. Read: ch, chinese_cht, en, japan" in capsys.readouterr().err
    with pytest.raises(ValueError, match="lang 'japan': PP-OCRv4_mobile does not read it; PP-OCRv5_mobile, "
                                         "PP-OCRv6_small do"):
        OCRConfig(lang="japan", model_set="PP-OCRv4_mobile")
    ocr = PaddleOCR(lang="japan", **QUIET)
    assert ocr.pipeline.config.lang == "japan"
    with pytest.raises(ConfigError, match="lang 'japan'"):
        ocr.predict(page, model_set="PP-OCRv4_mobile")
