"""Pre- and post-processing settings of a PaddleOCR/PaddleX export, read from its ``inference.yml``.

PaddleOCR's ``tools/export_model.py`` (and so every PaddleX 3 model) writes beside the program an ``inference.yml``:
``Global.model_name``, ``PreProcess.transform_ops`` (a list of one-key maps: op name → arguments) and
``PostProcess`` (``name`` plus arguments; recognisers add ``character_dict``, their charset). What is mapped:

======================  ==========================================  ==============================================
model kind (by          export setting                              config field
PostProcess.name)
======================  ==========================================  ==============================================
det (DBPostProcess)     DetResizeForTest limit_side_len,            text_det.limit_side_len, limit_type,
                        limit_type, max_side_limit; or resize_long  max_side_limit (resize_long: the long side, so
                                                                    limit_type "max", as PaddleX does for PP-OCR)
                        NormalizeImage mean, std                    text_det.mean, std
                        PostProcess thresh, box_thresh,             text_det.thresh, box_thresh, unclip_ratio,
                        unclip_ratio, max_candidates,               max_candidates, use_dilation, score_mode
                        use_dilation, score_mode
rec (CTCLabelDecode)    RecResizeImg image_shape [3, H, W]          text_rec.image_height = H, min_width = W
                        PostProcess character_dict                  the charset (see ``registry.charset_file``)
cls (ClsPostProcess)    ClsResizeImg image_shape [3, H, W]          textline_orientation.image_height, image_width
======================  ==========================================  ==============================================

Anything else (image decoding, label encoders, ``Hpi``) is ignored. Precedence: a field the pipeline config leaves
unset takes the export's value; a field it sets keeps its value (the user's choice wins).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from triton_ocr.config import OCRConfig
from triton_ocr.errors import ConfigError
from triton_ocr.steps.textline_orientation import LABELS

EXPORT_CONFIG_FILE = "inference.yml"

Task = Literal["det", "rec", "cls"]
TASKS: dict[str, Task] = {"DBPostProcess": "det", "CTCLabelDecode": "rec", "ClsPostProcess": "cls"}
SECTIONS: dict[Task, str] = {"det": "text_det", "rec": "text_rec", "cls": "textline_orientation"}
DB_KEYS = ("thresh", "box_thresh", "unclip_ratio", "max_candidates", "use_dilation", "score_mode")


@dataclass(frozen=True)
class ExportConfig:
    """What an ``inference.yml`` says: the model's kind, config-field values of its section, its charset."""

    path: Path
    task: Task
    model_name: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    characters: list[str] | None = None

    @property
    def section(self) -> str:
        """The :class:`~triton_ocr.config.OCRConfig` section the settings belong to (``text_det``, ...)."""
        return SECTIONS[self.task]


def read_export_config(path: Path) -> ExportConfig:
    """Parse ``path`` (an ``inference.yml``); :class:`ConfigError` for unreadable files or unsupported models."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the export config {path}: {exc}") from exc
    post = data.get("PostProcess") or {}
    task = TASKS.get(post.get("name"))
    if task is None:
        raise ConfigError(
            f"{path}: post-processing {post.get('name')!r} is not supported; "
            f"supported: {', '.join(f'{name} ({kind})' for name, kind in TASKS.items())}"
        )
    ops = {
        name: args or {}
        for op in (data.get("PreProcess") or {}).get("transform_ops") or []
        for name, args in op.items()
    }
    model_name = (data.get("Global") or {}).get("model_name")
    if task == "det":
        return ExportConfig(path, task, model_name, det_settings(ops, post))
    if task == "rec":
        height, width = image_shape(ops, "RecResizeImg", path)
        settings = {"image_height": height, "min_width": width} if height else {}
        return ExportConfig(path, task, model_name, settings, post.get("character_dict"))
    if post.get("label_list", list(LABELS)) != list(LABELS):
        raise ConfigError(f"{path}: orientation labels {post['label_list']} are not {list(LABELS)}")
    height, width = image_shape(ops, "ClsResizeImg", path)
    return ExportConfig(path, task, model_name, {"image_height": height, "image_width": width} if height else {})


def det_settings(ops: Mapping[str, Mapping[str, Any]], post: Mapping[str, Any]) -> dict[str, Any]:
    """``DetResizeForTest``, ``NormalizeImage`` and ``DBPostProcess`` arguments → ``text_det`` field values."""
    resize, normalize = ops.get("DetResizeForTest", {}), ops.get("NormalizeImage", {})
    settings: dict[str, Any] = {}
    if "limit_side_len" in resize:
        settings["limit_side_len"] = resize["limit_side_len"]
    elif "resize_long" in resize:
        settings["limit_side_len"], settings["limit_type"] = resize["resize_long"], "max"
    settings |= {key: resize[key] for key in ("limit_type", "max_side_limit") if key in resize}
    settings |= {key: tuple(normalize[key]) for key in ("mean", "std") if key in normalize}
    return settings | {key: post[key] for key in DB_KEYS if key in post}


def image_shape(ops: Mapping[str, Mapping[str, Any]], op: str, path: Path) -> tuple[int, int] | tuple[None, None]:
    """(H, W) of the ``image_shape: [C, H, W]`` argument of ``op``, or (None, None) when absent."""
    shape = ops.get(op, {}).get("image_shape")
    if shape is None:
        return None, None
    if len(shape) != 3:
        raise ConfigError(f"{path}: {op}.image_shape must be [C, H, W], got {shape}")
    return int(shape[1]), int(shape[2])


def apply_export_config(config: OCRConfig, export: ExportConfig, section: str) -> OCRConfig:
    """``config`` with the export's settings in ``section``, for every field the config leaves unset.

    :class:`ConfigError` when the export is another kind of model than ``section`` expects.
    """
    if export.section != section:
        raise ConfigError(f"{export.path} describes a {export.task} model, but it is configured as {section}.model")
    return config.with_defaults(section, export.settings, str(export.path))
