"""Model names → model files.

A model is named either by a registry name (PaddleX's names, e.g. ``PP-OCRv4_mobile_det``) or by a local path: an
``.onnx`` file, or a folder holding ``model.onnx`` (or PaddleX's ``inference.onnx``) or a Paddle inference model
(``inference.pdmodel`` or ``inference.json``, with ``inference.pdiparams``; converted to ONNX on first use, see
:mod:`~triton_ocr.models.paddle_conversion`), optionally with an ``inference.yml`` (its settings, see
:mod:`~triton_ocr.models.export_config`) and a charset file. Registry models live in the model cache,
``$TRITON_OCR_HOME`` (default ``~/.cache/triton-ocr``), as such a folder named ``<name>``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace
from pathlib import Path

from triton_ocr.config import OCRConfig
from triton_ocr.errors import ModelNotFoundError
from triton_ocr.models.cache import model_home
from triton_ocr.models.export_config import EXPORT_CONFIG_FILE, ExportConfig, apply_export_config, read_export_config
from triton_ocr.models.model_sets import MODEL_SETS, REGISTRY, ModelSpec, model_set
from triton_ocr.models.paddle_conversion import CONVERTED, PaddleModel, converted_onnx
from triton_ocr.models.pixel_input import pixel_input_model

CHARSET_FILES = ("ppocr_keys_v1.txt", "dict.txt", "keys.txt")
ONNX_FILES = ("model.onnx", "inference.onnx")


@dataclass(frozen=True)
class ModelFiles:
    """Where a resolved model's files are: the ONNX graph (converted from Paddle where the model is a Paddle
    export), for recognisers an optional charset file, and the export's ``inference.yml`` settings if it has one."""

    name: str
    onnx_path: Path
    charset_path: Path | None
    export: ExportConfig | None = None



def resolve_model(name_or_path: str, char_dict_path: str | None = None) -> ModelFiles:
    """Find the files of a registry model or a local model, converting a Paddle model to ONNX on first use;
    raise :class:`ModelNotFoundError` if absent or unconvertible."""
    candidate = Path(name_or_path).expanduser()
    if name_or_path in REGISTRY:
        folder = model_home() / name_or_path
        if model_file(folder) is None:
            raise ModelNotFoundError(missing_registry_model(name_or_path, folder))
    elif candidate.suffix == ".onnx" and candidate.is_file():
        return ModelFiles(candidate.stem, candidate, charset_file(candidate.parent, char_dict_path))
    elif candidate.is_dir():
        folder = candidate
        if model_file(folder) is None:
            raise ModelNotFoundError(
                f"{folder} holds no model.onnx and no Paddle inference model "
                f"(inference.pdmodel or inference.json, with inference.pdiparams)"
            )
    else:
        known = ", ".join(REGISTRY)
        raise ModelNotFoundError(
            f"unknown model {name_or_path!r}: give a model folder, an .onnx file, or one of: {known}"
        )
    export = read_export_config(folder / EXPORT_CONFIG_FILE) if (folder / EXPORT_CONFIG_FILE).is_file() else None
    onnx_path = onnx_file(folder)
    if onnx_path is None:  # a Paddle model: model_file found its program
        onnx_path = converted_onnx(PaddleModel.find(folder), model_home())
    return ModelFiles(folder.name, onnx_path, charset_file(folder, char_dict_path, export), export)


def onnx_file(folder: Path) -> Path | None:
    return next((folder / name for name in ONNX_FILES if (folder / name).is_file()), None)


def model_file(folder: Path) -> Path | None:
    """The ONNX graph in ``folder``, else its Paddle program, else ``None``."""
    onnx_path = onnx_file(folder)
    if onnx_path is not None:
        return onnx_path
    paddle = PaddleModel.find(folder)
    return paddle.program if paddle else None


def missing_registry_model(name: str, folder: Path) -> str:
    if REGISTRY[name].source is not None:
        sets = [s.name for s in MODEL_SETS.values() if name in s.models]
        return (
            f"model {name} is not in the cache ({folder}/model.onnx): run `triton-ocr models fetch "
            f"{sets[0] if sets else name}`"
        )
    return (
        f"model {name} does not ship with triton-ocr: put the files of its PaddleX inference model (inference.json "
        f"or inference.pdmodel, inference.pdiparams, inference.yml) into {folder}, or an ONNX export at "
        f"{folder}/model.onnx, or point the config at its folder"
    )


def charset_file(folder: Path, explicit: str | None, export: ExportConfig | None = None) -> Path | None:
    """The recogniser's charset: ``explicit``, else the export's ``character_dict`` (written once into the cache as
    ``converted/<sha256>/dict.txt``), else a charset file in ``folder``; ``None`` leaves it to the ONNX metadata."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ModelNotFoundError(f"charset file {path} does not exist")
        return path
    if export is not None and export.characters:
        text = "".join(f"{character}\n" for character in export.characters)
        path = model_home() / CONVERTED / hashlib.sha256(text.encode("utf-8")).hexdigest() / "dict.txt"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.part")
            partial.write_text(text, encoding="utf-8")
            partial.replace(path)
        return path
    return next((folder / name for name in CHARSET_FILES if (folder / name).is_file()), None)


def installed_models() -> list[tuple[ModelSpec, Path | None]]:
    """Every registry model with its model file (ONNX graph or Paddle program), or ``None`` where not installed."""
    home = model_home()
    return [(spec, model_file(home / spec.name)) for spec in REGISTRY.values()]


def installed_model_sets() -> list[str]:
    """The model sets whose models are all in the model cache, in :data:`MODEL_SETS` order."""
    home = model_home()
    return [s.name for s in MODEL_SETS.values() if all(model_file(home / name) for name in s.models)]


@dataclass(frozen=True)
class PipelineModels:
    """The models a pipeline config names, resolved, and the config with their exports' ``inference.yml`` settings
    applied. A classifier is ``None`` where its flag is off and it was not asked for as optional, or is not
    installed."""

    config: OCRConfig
    det: ModelFiles
    rec: ModelFiles
    orientation: ModelFiles | None
    """The text-line angle classifier (``use_textline_orientation``)."""
    doc_orientation: ModelFiles | None = None
    """The page classifier (``use_doc_orientation_classify``)."""

    def pixel_detector(self) -> ModelFiles:
        """The detector taking the resized image's uint8 pixels, normalised inside the graph with the config's
        ``text_det.mean`` / ``std`` (:mod:`~triton_ocr.models.pixel_input`): what the in-process pipeline and
        the served ``text_det`` run."""
        det = self.config.text_det
        path = pixel_input_model(self.det.onnx_path, model_home() / "pixel_input", det.mean, det.std)
        return replace(self.det, onnx_path=path)


def with_model_settings(config: OCRConfig) -> OCRConfig:
    """``config`` with its model set's models in the sections that name none, and each named registry model's
    settings in the fields it leaves unset (no files are read)."""
    chosen = model_set(config.model_set)
    for section, name in (("text_det", chosen.det), ("text_rec", chosen.rec), ("textline_orientation", chosen.cls)):
        config = config.with_defaults(section, {"model": name}, f"model set {chosen.name}")
        spec = REGISTRY.get(getattr(config, section).model)
        if spec is not None:
            config = config.with_defaults(section, spec.settings, spec.name)
    return config


def resolve_classifier(name: str, used: bool, optional: bool) -> ModelFiles | None:
    """A classifier's files: required where ``used`` (its flag is on), else, with ``optional``, where installed."""
    if used:
        return resolve_model(name)
    if not optional:
        return None
    try:
        return resolve_model(name)
    except ModelNotFoundError:
        return None


def resolve_pipeline_models(config: OCRConfig, optional_classifiers: bool = False) -> PipelineModels:
    """Resolve (and convert where needed) every model ``config`` uses — the model set's where a section names
    none — with the fields the config leaves unset filled by each model's settings: the registry's
    (:func:`with_model_settings`), then its export's ``inference.yml``. See :func:`resolve_model`.

    ``optional_classifiers``: also the classifiers whose flag is off, where installed, so that a request can turn
    them on (the served repository, the in-process pipeline's per-call flags)."""
    config = with_model_settings(config)
    det = resolve_model(config.text_det.model)
    rec = resolve_model(config.text_rec.model, config.text_rec.char_dict_path)
    orientation = resolve_classifier(
        config.textline_orientation.model, config.use_textline_orientation, optional_classifiers
    )
    page = resolve_classifier(config.doc_orientation.model, config.use_doc_orientation_classify, optional_classifiers)
    for files, section in ((det, "text_det"), (rec, "text_rec"), (orientation, "textline_orientation")):
        if files is not None and files.export is not None:
            config = apply_export_config(config, files.export, section)
    return PipelineModels(config, det, rec, orientation, page)
