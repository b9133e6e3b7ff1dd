"""Model names → model files.

A model is named either by a registry name (PaddleX's names, e.g. ``PP-OCRv4_mobile_det``) or by a local path: a
folder holding ``model.onnx`` (optionally a charset file) or an ``.onnx`` file. Registry models live in the model
cache, ``$TRITON_OCR_HOME`` (default ``~/.cache/triton-ocr``), as ``<name>/model.onnx``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from triton_ocr.errors import ModelNotFoundError

CHARSET_FILES = ("ppocr_keys_v1.txt", "dict.txt", "keys.txt")
PADDLE_MARKERS = ("inference.pdmodel", "inference.json")


@dataclass(frozen=True)
class ModelSpec:
    """A model PaddleX names; ``shipped`` models are fetched by ``triton-ocr models fetch``."""

    name: str
    task: str
    shipped: bool


REGISTRY = {
    spec.name: spec
    for spec in (
        ModelSpec("PP-OCRv4_mobile_det", "det", shipped=True),
        ModelSpec("PP-OCRv4_mobile_rec", "rec", shipped=True),
        ModelSpec("ch_ppocr_mobile_v2.0_cls", "cls", shipped=True),
        ModelSpec("PP-OCRv4_server_det", "det", shipped=False),
        ModelSpec("PP-OCRv4_server_rec", "rec", shipped=False),
        ModelSpec("ch_SVTRv2_rec", "rec", shipped=False),
        ModelSpec("ch_RepSVTR_rec", "rec", shipped=False),
    )
}


@dataclass(frozen=True)
class ModelFiles:
    """Where a resolved model's files are: the ONNX graph and, for recognisers, an optional charset file."""

    name: str
    onnx_path: Path
    charset_path: Path | None


def model_home() -> Path:
    """The model cache folder."""
    return Path(os.environ.get("TRITON_OCR_HOME", Path.home() / ".cache" / "triton-ocr")).expanduser()


def resolve_model(name_or_path: str, char_dict_path: str | None = None) -> ModelFiles:
    """Find the files of a registry model or a local model folder; raise :class:`ModelNotFoundError` if absent."""
    candidate = Path(name_or_path).expanduser()
    if name_or_path in REGISTRY:
        folder = model_home() / name_or_path
        if not (folder / "model.onnx").is_file():
            raise ModelNotFoundError(missing_registry_model(name_or_path, folder))
    elif candidate.suffix == ".onnx" and candidate.is_file():
        return ModelFiles(candidate.stem, candidate, charset_file(candidate.parent, char_dict_path))
    elif candidate.is_dir():
        folder = candidate
        if not (folder / "model.onnx").is_file():
            if any((folder / marker).is_file() for marker in PADDLE_MARKERS):
                raise ModelNotFoundError(
                    f"{folder} is a Paddle inference model; this build reads ONNX only: convert it with "
                    f"`paddle2onnx --model_dir {folder} --model_filename inference.pdmodel "
                    f"--params_filename inference.pdiparams --save_file {folder}/model.onnx`"
                )
            raise ModelNotFoundError(f"{folder} holds no model.onnx")
    else:
        known = ", ".join(REGISTRY)
        raise ModelNotFoundError(
            f"unknown model {name_or_path!r}: give a folder with model.onnx, an .onnx file, or one of: {known}"
        )
    return ModelFiles(folder.name, folder / "model.onnx", charset_file(folder, char_dict_path))


def missing_registry_model(name: str, folder: Path) -> str:
    if REGISTRY[name].shipped:
        return f"model {name} is not in the cache ({folder}/model.onnx): run `triton-ocr models fetch`"
    return (
        f"model {name} does not ship with triton-ocr: export it to ONNX and place it at {folder}/model.onnx "
        f"(or point the config at its folder)"
    )


def charset_file(folder: Path, explicit: str | None) -> Path | None:
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ModelNotFoundError(f"charset file {path} does not exist")
        return path
    return next((folder / name for name in CHARSET_FILES if (folder / name).is_file()), None)


def installed_models() -> list[tuple[ModelSpec, Path | None]]:
    """Every registry model with its cached ONNX file, or ``None`` where it is not installed."""
    home = model_home()
    return [
        (spec, home / spec.name / "model.onnx" if (home / spec.name / "model.onnx").is_file() else None)
        for spec in REGISTRY.values()
    ]
