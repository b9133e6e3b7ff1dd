"""PaddleX 3.x compatibility: keyword arguments, result keys, and PaddleX pipeline files loaded unchanged."""

from __future__ import annotations

import ast
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from imagegen import encode, render_lines

from triton_ocr import cli, create_pipeline
from triton_ocr.config import OCRConfig, load_config
from triton_ocr.errors import ConfigError
from triton_ocr.paddlex_compat import config_with_params
from triton_ocr.result import RESULT_KEYS

DATA = Path(__file__).parent / "data" / "paddlex"
LINES = ["Invoice 2024-0117", "Hello PaddleX", "Thank you"]


def squash(texts: list[str]) -> list[str]:
    """Texts without spaces (the PP-OCRv4 recogniser drops most)."""
    return [text.replace(" ", "") for text in texts]


@pytest.fixture(scope="module")
def page() -> np.ndarray:
    return render_lines(LINES, size=(900, 300))


def test_flat_parameters_map_onto_the_config():
    config = config_with_params(
        OCRConfig(),
        {
            "text_det_limit_side_len": 1280, "text_det_limit_type": "max", "text_det_thresh": 0.25,
            "text_det_box_thresh": 0.55, "text_det_unclip_ratio": 1.8, "text_det_max_side_limit": 3000,
            "text_rec_score_thresh": 0.7, "use_textline_orientation": True, "return_word_box": False,
            "text_detection_model_name": "PP-OCRv4_mobile_det", "text_recognition_model_dir": "/models/rec",
            "text_recognition_batch_size": 8, "textline_orientation_batch_size": 4,
            "use_doc_orientation_classify": False, "use_doc_unwarping": None,
        },
        per_call=False,
        where="create_pipeline()",
    )
    det = config.text_det
    assert (det.limit_side_len, det.limit_type, det.thresh, det.box_thresh, det.unclip_ratio, det.max_side_limit) == (
        1280, "max", 0.25, 0.55, 1.8, 3000
    )
    assert (config.text_rec.score_thresh, config.text_rec.model, config.text_rec.batch_size) == (0.7, "/models/rec", 8)
    assert config.text_det.model == "PP-OCRv4_mobile_det" and config.textline_orientation.batch_size == 4
    assert config.use_textline_orientation is True and config.return_word_box is False


def test_word_boxes_are_asked_for_per_call_and_in_paddlex_files(tmp_path):
    assert config_with_params(OCRConfig(), {"return_word_box": True}, per_call=True, where="predict()").return_word_box
    path = tmp_path / "OCR.yaml"
    path.write_text("pipeline_name: OCR\nSubModules:\n  TextRecognition:\n    module_name: text_recognition\n"
                    "    return_word_box: true\n", encoding="utf-8")
    assert load_config(path).return_word_box is True


@pytest.mark.parametrize("per_call, where", [(False, "create_pipeline()"), (True, "predict()")])
def test_misspelt_keyword_is_a_type_error_naming_close_matches(per_call, where):
    with pytest.raises(TypeError) as error:
        config_with_params(OCRConfig(), {"text_det_treshold": 0.2}, per_call=per_call, where=where)
    assert str(error.value) == (
        f"{where} got unexpected keyword argument(s) 'text_det_treshold' (did you mean text_det_thresh, "
        "text_det_box_thresh, text_det?)"
    )


def test_model_names_are_constructor_parameters_only():
    with pytest.raises(TypeError, match="'text_detection_model_name'"):
        config_with_params(OCRConfig(), {"text_detection_model_name": "x"}, per_call=True, where="predict()")


def test_document_unwarping_is_refused_with_a_reason():
    with pytest.raises(ConfigError) as error:
        config_with_params(OCRConfig(), {"use_doc_unwarping": True}, per_call=True, where="predict()")
    assert str(error.value) == "document unwarping (UVDoc) is not available in this service: pass " \
        "use_doc_unwarping=False"
    unchanged = config_with_params(OCRConfig(), {"use_doc_unwarping": False}, per_call=True, where="predict()")
    assert unchanged == OCRConfig()


def test_predict_takes_paddlex_parameters_and_returns_3x_keys(pipeline, page, tmp_path):
    with pytest.raises(TypeError, match="did you mean text_rec_score_thresh"):
        pipeline.predict(page, text_rec_score_tresh=0.9)  # raised at the call, not at the first next()
    (result,) = pipeline.predict(input=page, use_textline_orientation=False, text_det_box_thresh=0.5,
                                 use_doc_orientation_classify=False, use_doc_unwarping=False)
    assert tuple(result) == RESULT_KEYS
    assert squash(result["rec_texts"]) == squash(LINES) and result["rec_text"] == result["rec_texts"]
    assert result["rec_scores"] == result["rec_score"] and len(result["rec_boxes"]) == 3
    assert result["text_det_params"]["box_thresh"] == 0.5 and result["text_rec_score_thresh"] == 0.5
    assert result["model_settings"] == {"use_doc_preprocessor": False, "use_textline_orientation": False}
    assert result["textline_orientation_angles"] == [-1, -1, -1] and result["page_index"] is None
    polys = np.asarray(result["rec_polys"])
    np.testing.assert_array_equal(result["rec_boxes"], np.concatenate([polys.min(1), polys.max(1)], 1).round())
    assert json.loads(result.to_json())["res"]["rec_texts"] == result["rec_texts"] == result.json["res"]["rec_texts"]
    assert result.img["ocr_res_img"].size == (2 * 900, 300)
    assert [r["rec_texts"] for r in pipeline.predict(page, text_rec_score_thresh=1.0)] == [[]]


def test_arrays_and_urls_are_saved_under_distinct_names(pipeline, page, tmp_path):
    first, second = pipeline.predict([page, page])
    assert first.save_to_json(tmp_path) != second.save_to_json(tmp_path)
    assert first.file_stem().startswith("array_") and second.file_stem().startswith("array_")
    first["input_path"], first.stem = "https://example.com/scans/receipt.png?size=large", None
    assert first.save_to_json(tmp_path).name == "receipt_ocr.json"


def test_a_paddlex_3x_user_script_runs_unchanged(tmp_path, page):
    (tmp_path / "page.png").write_bytes(encode(page))
    script = (DATA / "user_script.py").read_text(encoding="utf-8")
    assert "from triton_ocr import create_pipeline" in script
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    texts = next(line for line in done.stdout.splitlines() if line.startswith("TEXTS "))
    assert squash(ast.literal_eval(texts[len("TEXTS "):])) == squash(LINES)
    assert sorted(p.name for p in (tmp_path / "output").iterdir()) == ["page_ocr.json", "page_ocr.png"]


def test_paddlex_3x_ocr_yaml_maps_and_names_what_it_cannot_do(caplog):
    caplog.set_level(logging.WARNING)
    config = load_config(DATA / "OCR_3x.yaml")
    assert config.model_set == "PP-OCRv5_mobile" and config.use_textline_orientation is True
    det = config.text_det
    assert (det.limit_side_len, det.limit_type, det.max_side_limit, det.thresh, det.box_thresh, det.unclip_ratio) == (
        736, "min", 4000, 0.3, 0.6, 1.5
    )
    assert (config.text_rec.batch_size, config.text_rec.score_thresh, config.textline_orientation.batch_size) == (
        6, 0.0, 6
    )
    assert config.textline_orientation.model is None  # PaddleX's LCNet classifier → the model set's
    warnings = [r.getMessage() for r in caplog.records]
    assert config.use_doc_orientation_classify is True  # the file's DocPreprocessor turns pages: that runs
    assert "use_doc_preprocessor: use_doc_unwarping not available in this service (no UVDoc model): only " \
           "use_doc_orientation_classify runs" in warnings
    assert any("'PP-LCNet_x0_25_textline_ori' is not used" in w for w in warnings)


def test_paddlex_tutorial_file_maps_models_batch_and_devices(caplog):
    caplog.set_level(logging.WARNING)
    config = load_config(DATA / "OCR_tutorial.yaml")
    assert config.model_set == "PP-OCRv4_mobile" and config.text_rec.batch_size == 1
    assert [r.getMessage() for r in caplog.records if "device" in r.getMessage()] == [
        f"Pipeline.{key}: 'gpu' is not used: the in-process engine runs on the CPU; for a GPU, serve with "
        "`triton-ocr serve --profile gpu` and pass --server" for key in ("det_device", "rec_device")
    ]
    local = load_config_text(
        "Global: {pipeline_name: OCR}\nPipeline: {det_model: /models/my_det, rec_model: PP-OCRv4_mobile_rec}\n"
    )
    assert local.text_det.model == "/models/my_det" and local.text_rec.model == "PP-OCRv4_mobile_rec"


def load_config_text(text: str) -> OCRConfig:
    path = Path(__import__("tempfile").mkdtemp()) / "OCR.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("Global: {pipeline_name: OCR}\nPipeline: {det_modle: x}\n",
         "Pipeline: unknown key(s) 'det_modle' (did you mean det_model, text_det_model, rec_model?)"),
        ("pipeline_name: table_recognition\nSubModules: {}\n", "pipeline_name 'table_recognition' is not served"),
        ("pipeline_name: OCR\nSubModules: {TextDetection: {thresh: 0.3, unclip: 2}}\n",
         "SubModules.TextDetection: unknown key(s) 'unclip' (did you mean unclip_ratio?)"),
        ("pipeline_name: OCR\ntext_type: seal\nSubModules: {}\n", "text_type 'seal' is not served here"),
    ],
)
def test_paddlex_file_errors_name_the_key(text, message):
    with pytest.raises(ConfigError) as error:
        load_config_text(text)
    assert message in str(error.value)


@pytest.mark.parametrize("name", ["OCR_tutorial.yaml", "OCR_3x.yaml"])
def test_paddlex_files_run_through_the_cli(name, tmp_path, page, capsys):
    shutil.copy(DATA / name, tmp_path / name)
    (tmp_path / "page.png").write_bytes(encode(page))
    argv = ["--pipeline", str(tmp_path / name), "--save_path", str(tmp_path / "out")]
    if name == "OCR_3x.yaml":
        argv += ["--input", str(tmp_path / "page.png")]
    else:  # the 3.0-beta file's Global.input (relative: run from its folder)
        argv = ["--pipeline", name, "--save_path", "out"]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        assert cli.main(argv) == 0
    printed = json.loads(capsys.readouterr().out)["res"]
    # sorted: where document orientation is served, OCR.yaml turns it on, and the page classifier may turn this
    # synthetic page (which changes the reading order, not the texts)
    assert sorted(squash(printed["rec_texts"])) == sorted(squash(LINES))


def test_device_flag_is_explained_and_its_errors_name_the_flags(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "--device DEVICE cpu (default), gpu or gpu:N: a GPU runs the torch engine" in " ".join(
        capsys.readouterr().out.split()
    )
    image = tmp_path / "x.png"
    image.write_bytes(encode(render_lines(["x"], size=(60, 40), font_size=20, origin=(5, 5))))
    with pytest.raises(SystemExit) as usage:
        cli.main(["--input", str(image), "--device", "tpu"])
    assert usage.value.code == 2 and "argument --device: 'tpu': use cpu, gpu or gpu:N" in capsys.readouterr().err
    assert cli.main(["--input", str(image), "--device", "gpu:1", "--server", "grpc://127.0.0.1:1"]) == 2
    assert capsys.readouterr().err == (
        "triton-ocr: error: --device gpu:1 runs models in this process; with --server the server's serving profile "
        "places them (triton-ocr serve --profile gpu): leave --device out\n"
    )
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        assert cli.main(["--input", str(image), "--device", "GPU"]) == 2
        assert capsys.readouterr().err.startswith("triton-ocr: error: --device 'gpu': no CUDA GPU is visible to")


def test_paddlexs_documented_command_runs_with_its_flags(tmp_path, capsys, monkeypatch):
    """``paddlex --pipeline OCR --input x --use_doc_orientation_classify False --use_doc_unwarping False
    --use_textline_orientation False --save_path ./output --device cpu``, with ``paddlex`` → ``triton-ocr``; the
    ``--text_det_*`` / ``--text_rec_*`` flags reach the pipeline; ``-i`` is ``--input``."""
    image = tmp_path / "page.png"
    image.write_bytes(encode(render_lines(LINES, size=(700, 260))))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["--pipeline", "OCR", "--input", str(image), "--use_doc_orientation_classify", "False",
                     "--use_doc_unwarping", "False", "--use_textline_orientation", "False", "--save_path", "./output",
                     "--device", "cpu"]) == 0
    printed = json.loads(capsys.readouterr().out)["res"]
    assert squash(printed["rec_texts"]) == squash(LINES)
    assert printed["model_settings"] == {"use_doc_preprocessor": False, "use_textline_orientation": False}
    assert (tmp_path / "output" / "page_ocr.json").is_file() and (tmp_path / "output" / "page_ocr.png").is_file()
    assert cli.main(["-i", str(image), "--text_det_thresh", "0.25", "--text_det_box_thresh", "0.55",
                     "--text_det_limit_side_len", "640", "--text_det_limit_type", "max", "--text_rec_score_thresh",
                     "0.6", "--use_textline_orientation", "true"]) == 0
    printed = json.loads(capsys.readouterr().out)["res"]
    assert printed["text_det_params"] | {"max_side_limit": 0, "unclip_ratio": 0} == {
        "limit_side_len": 640, "limit_type": "max", "thresh": 0.25, "box_thresh": 0.55, "max_side_limit": 0,
        "unclip_ratio": 0}
    assert printed["text_rec_score_thresh"] == 0.6 and printed["model_settings"]["use_textline_orientation"] is True
    assert cli.main(["-i", str(image), "--use_doc_unwarping", "True"]) == 2
    assert "document unwarping (UVDoc) is not available" in capsys.readouterr().err
    for flag, value in (("--use_textline_orientation", "maybe"), ("--text_det_thresh", "high")):
        with pytest.raises(SystemExit) as usage:
            cli.main(["-i", str(image), flag, value])
        assert usage.value.code == 2 and f"argument {flag}: " in capsys.readouterr().err


def test_serve_starts_the_service_and_is_never_taken_for_server(monkeypatch, capsys):
    from triton_ocr.serving.server import command as serve

    calls = []
    monkeypatch.setattr(serve, "run", lambda args: calls.append(args) or 0)
    assert cli.main(["--serve", "--pipeline", "OCR", "--port", "8090"]) == 0
    (args,) = calls
    assert (args.pipeline, args.port, args.host) == ("OCR", 8090, "127.0.0.1")
    for argv, message in (
        (["--serve", "--input", "x.png"], "--serve takes --pipeline, --host and --port; not --input"),
        (["--serv", "grpc://127.0.0.1:1", "--input", "x.png"], "unrecognized arguments: --serv"),
        (["--input", "x.png", "--port", "8090"], "--host and --port go with --serve"),
    ):
        with pytest.raises(SystemExit) as usage:
            cli.main(argv)
        assert usage.value.code == 2 and message in capsys.readouterr().err, argv
