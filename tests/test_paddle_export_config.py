"""``inference.yml`` of PaddleOCR/PaddleX exports → config settings and charset; Paddle folders without the converter.
No Paddle needed: the ymls are hand-written in PaddleX's format (``tools/export_model.py``'s ``dump_infer_config``)."""

from __future__ import annotations

import importlib.metadata
import json

import pytest

from triton_ocr.config import OCRConfig
from triton_ocr.errors import ConfigError, ModelNotFoundError
from triton_ocr.models.charset import read_dict_file
from triton_ocr.models.export_config import apply_export_config, read_export_config
from triton_ocr.models.cache import model_home
from triton_ocr.models.registry import resolve_model, resolve_pipeline_models

DET_YML = """\
Global:
  model_name: PP-OCRv4_server_det
Hpi:
  backend_configs: {}
PreProcess:
  transform_ops:
  - DecodeImage:
      channel_first: false
      img_mode: BGR
  - DetLabelEncode: null
  - DetResizeForTest:
      resize_long: 1280
  - NormalizeImage:
      mean: [0.5, 0.5, 0.5]
      order: hwc
      scale: 1./255.
      std: [0.5, 0.5, 0.5]
  - ToCHWImage: null
  - KeepKeys:
      keep_keys: [image, shape, polys, ignore_tags]
PostProcess:
  name: DBPostProcess
  thresh: 0.2
  box_thresh: 0.5
  max_candidates: 1000
  unclip_ratio: 2.0
"""

REC_YML = """\
Global:
  model_name: my_rec
PreProcess:
  transform_ops:
  - DecodeImage:
      channel_first: false
      img_mode: BGR
  - MultiLabelEncode:
      gtc_encode: NRTRLabelEncode
  - RecResizeImg:
      image_shape: [3, 32, 256]
  - KeepKeys:
      keep_keys: [image, label_ctc, label_gtc, length, valid_ratio]
PostProcess:
  name: CTCLabelDecode
  character_dict: ["0", "1", "2", "a", "b", "中"]
"""

CLS_YML = """\
PreProcess:
  transform_ops:
  - DecodeImage: {img_mode: BGR, channel_first: false}
  - ClsResizeImg: {image_shape: [3, 48, 160]}
PostProcess:
  name: ClsPostProcess
  label_list: ['0', '180']
"""


def yml(tmp_path, text: str, name: str = "model"):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "inference.yml").write_text(text, encoding="utf-8")
    return folder


def test_detection_settings(tmp_path):
    export = read_export_config(yml(tmp_path, DET_YML) / "inference.yml")
    assert export.task == "det" and export.section == "text_det" and export.model_name == "PP-OCRv4_server_det"
    assert export.settings == {
        "limit_side_len": 1280, "limit_type": "max", "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5),
        "thresh": 0.2, "box_thresh": 0.5, "max_candidates": 1000, "unclip_ratio": 2.0,
    }
    limits = DET_YML.replace("resize_long: 1280", "{limit_side_len: 64, limit_type: min}")
    explicit = read_export_config(yml(tmp_path, limits, "limits") / "inference.yml")
    assert explicit.settings["limit_side_len"] == 64 and explicit.settings["limit_type"] == "min"


def test_recognition_and_orientation_settings(tmp_path):
    rec = read_export_config(yml(tmp_path, REC_YML) / "inference.yml")
    assert (rec.task, rec.settings) == ("rec", {"image_height": 32, "min_width": 256})
    assert rec.characters == ["0", "1", "2", "a", "b", "中"]
    cls = read_export_config(yml(tmp_path, CLS_YML, "cls") / "inference.yml")
    assert (cls.section, cls.settings) == ("textline_orientation", {"image_height": 48, "image_width": 160})


def test_user_settings_win_over_the_export(tmp_path):
    export = read_export_config(yml(tmp_path, DET_YML) / "inference.yml")
    config = OCRConfig().with_overrides(text_det={"box_thresh": 0.7, "limit_side_len": 960})
    merged = apply_export_config(config, export, "text_det").text_det
    assert merged.box_thresh == 0.7  # set by the user
    assert merged.limit_side_len == 960  # set by the user, though it is the built-in default: it stays
    assert apply_export_config(OCRConfig(), export, "text_det").text_det.limit_side_len == 1280  # unset: the export's
    assert merged.thresh == 0.2 and merged.unclip_ratio == 2.0 and merged.mean == (0.5, 0.5, 0.5)
    with pytest.raises(ConfigError, match="det model.*text_rec.model"):
        apply_export_config(config, export, "text_rec")


def test_unsupported_exports_are_refused(tmp_path):
    attention = REC_YML.replace("CTCLabelDecode", "AttnLabelDecode")
    with pytest.raises(ConfigError, match="'AttnLabelDecode' is not supported"):
        read_export_config(yml(tmp_path, attention) / "inference.yml")
    other_labels = CLS_YML.replace("['0', '180']", "['0_degree', '180_degree']")
    with pytest.raises(ConfigError, match="labels"):
        read_export_config(yml(tmp_path, other_labels, "cls") / "inference.yml")
    with pytest.raises(ConfigError, match="image_shape must be"):
        read_export_config(yml(tmp_path, REC_YML.replace("[3, 32, 256]", "[32, 256]"), "c") / "inference.yml")


def test_onnx_export_with_yml_gives_settings_and_charset(tmp_path, monkeypatch):
    """A PaddleX ONNX export folder (``inference.onnx`` + ``inference.yml``): the charset comes from the yml."""
    real_home = model_home()
    monkeypatch.setenv("TRITON_OCR_HOME", str(tmp_path / "home"))
    keys = real_home / "PP-OCRv4_mobile_rec" / "ppocr_keys_v1.txt"
    characters = read_dict_file(keys)  # 6623 entries, a backslash among them
    charset_yml = REC_YML.replace('["0", "1", "2", "a", "b", "中"]', json.dumps(characters, ensure_ascii=False))
    folder = yml(tmp_path, charset_yml)
    (folder / "inference.onnx").symlink_to(real_home / "PP-OCRv4_mobile_rec" / "model.onnx")
    files = resolve_model(str(folder))
    assert files.onnx_path == folder / "inference.onnx"
    assert files.charset_path.parent.parent == tmp_path / "home" / "converted"
    assert read_dict_file(files.charset_path) == characters
    assert resolve_model(str(folder), char_dict_path=str(keys)).charset_path == keys  # explicit wins

    det_folder = real_home / "PP-OCRv4_mobile_det"
    config = OCRConfig().with_overrides(text_det={"model": str(det_folder)}, text_rec={"model": str(folder)})
    models = resolve_pipeline_models(config)
    assert models.orientation is None and models.config.text_rec.image_height == 32
    assert models.config.text_det == config.text_det  # the shipped detector has no yml


def test_paddle_folder_without_the_converter_says_what_to_install(tmp_path, monkeypatch):
    folder = tmp_path / "my_det"
    folder.mkdir()
    (folder / "inference.json").write_text("{}")
    (folder / "inference.pdiparams").write_bytes(b"\0")
    monkeypatch.setenv("TRITON_OCR_HOME", str(tmp_path / "home"))

    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    with pytest.raises(ModelNotFoundError, match=r"needs paddle2onnx: pip install 'triton-ocr\[paddle\]'"):
        resolve_model(str(folder))
    (folder / "inference.pdiparams").unlink()
    with pytest.raises(ModelNotFoundError, match="no inference.pdiparams"):
        resolve_model(str(folder))


def test_unshipped_registry_model_from_a_paddle_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TRITON_OCR_HOME", str(tmp_path))
    with pytest.raises(ModelNotFoundError, match="inference.pdiparams, inference.yml.*PP-OCRv4_server_det"):
        resolve_model("PP-OCRv4_server_det")
