"""PaddleX onto the one :class:`~triton_ocr.config.OCRConfig`: PaddleX 3.x keyword arguments and both PaddleX
pipeline-file formats map here, and nowhere else.

- keyword arguments (``create_pipeline(..., text_det_thresh=0.2)``, ``predict(x, use_textline_orientation=False)``):
  :func:`config_with_params`; an unknown or misspelt name is a :class:`TypeError` naming the close matches.
- pipeline files: the PaddleX 2.x / 3.0-beta file (``Global`` + ``Pipeline``) and the PaddleX 3.x ``OCR.yaml``
  (``SubModules`` / ``SubPipelines``): :func:`config_from_paddlex_file`. What the service does not do is named in a
  warning (it can run without it) or a :class:`~triton_ocr.errors.ConfigError` (it cannot); nothing is dropped
  silently. ``docs/paddlex_compat.md`` has the tables.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping
from typing import Any

from triton_ocr.config import OCRConfig
from triton_ocr.contract import REQUEST_FIELDS
from triton_ocr.errors import ConfigError
from triton_ocr.models.model_sets import set_of_models

log = logging.getLogger(__name__)

Target = tuple[str, str | None]
"""(section, field) of :class:`OCRConfig`; (name, None) for a top-level field."""

DET_FIELDS = ("limit_side_len", "limit_type", "max_side_limit", "thresh", "box_thresh", "unclip_ratio")

PREDICT_PARAMS: dict[str, Target] = {field.python: (field.section, field.field) for field in REQUEST_FIELDS}
"""PaddleX 3.x ``predict()`` parameters (per call) → config fields (:data:`triton_ocr.contract.REQUEST_FIELDS`)."""

PIPELINE_PARAMS: dict[str, Target] = {
    **PREDICT_PARAMS,
    "text_detection_model_name": ("text_det", "model"),
    "text_detection_model_dir": ("text_det", "model"),
    "text_recognition_model_name": ("text_rec", "model"),
    "text_recognition_model_dir": ("text_rec", "model"),
    "text_recognition_batch_size": ("text_rec", "batch_size"),
    "textline_orientation_model_name": ("textline_orientation", "model"),
    "textline_orientation_model_dir": ("textline_orientation", "model"),
    "textline_orientation_batch_size": ("textline_orientation", "batch_size"),
}
"""PaddleX 3.x constructor parameters (``create_pipeline``) → config fields."""

DOC_PREPROCESSING = ("use_doc_orientation_classify", "use_doc_unwarping")
"""PaddleX's document preprocessing flags: orientation is an :class:`OCRConfig` field; unwarping is accepted as
``False``/``None`` only (:data:`UNAVAILABLE`)."""

CONSTRUCTOR_NAMES = tuple(dict.fromkeys([*DOC_PREPROCESSING, *PIPELINE_PARAMS]))
"""Every PaddleX 3.x ``create_pipeline`` parameter name (its CLI flags too)."""

UNAVAILABLE = {
    "use_doc_unwarping": "document unwarping (UVDoc) is not available in this service: pass use_doc_unwarping=False",
}


def close_matches(name: str, known: list[str]) -> str:
    """`` (did you mean a, b?)`` for the known names close to ``name``, else ``""``."""
    matches = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    return f" (did you mean {', '.join(matches)}?)" if matches else ""


def reject_unknown(names: list[str], known: list[str], where: str) -> None:
    """:class:`TypeError` naming each of ``names`` not in ``known``, with close matches."""
    unknown = [name for name in names if name not in known]
    if unknown:
        parts = [f"{name!r}{close_matches(name, known)}" for name in unknown]
        raise TypeError(f"{where} got unexpected keyword argument(s) {'; '.join(parts)}")


def served(name: str) -> bool:
    """Whether a PaddleX flag is an :class:`OCRConfig` field, so the service honours it."""
    return name in OCRConfig.model_fields


def check_doc_preprocessing(params: Mapping[str, Any]) -> None:
    """Document preprocessing flags the config has no field for: ``False`` or ``None`` pass; ``True`` is a
    :class:`ConfigError` saying why."""
    for name in DOC_PREPROCESSING:
        if params.get(name) and not served(name):
            raise ConfigError(UNAVAILABLE.get(name, f"{name} is not available in this service"))


def params_to_sections(params: Mapping[str, Any], table: Mapping[str, Target]) -> dict[str, Any]:
    """Flat PaddleX parameters → :meth:`OCRConfig.with_overrides` arguments; ``None`` values mean "keep"."""
    sections: dict[str, Any] = {}
    for name, value in params.items():
        if value is None or (name in DOC_PREPROCESSING and not served(name)):
            continue
        if name in DOC_PREPROCESSING:
            sections[name] = value
            continue
        section, field = table[name]
        if field is None:
            sections[section] = value
        else:
            sections.setdefault(section, {})[field] = value
    return sections


def split_call_kwargs(kwargs: Mapping[str, Any], *, per_call: bool, where: str) -> dict[str, Any]:
    """Keyword arguments of ``create_pipeline`` (``per_call=False``) or ``predict`` → ``with_overrides`` arguments.

    Accepted: the PaddleX 3.x flat names (:data:`PIPELINE_PARAMS` / :data:`PREDICT_PARAMS`), the two document
    preprocessing flags (``False`` only), and this package's own section dicts (``text_det={...}``) and top-level
    fields (``model_set=...``). Anything else is a :class:`TypeError`.
    """
    table = PREDICT_PARAMS if per_call else PIPELINE_PARAMS
    native = list(OCRConfig.model_fields)
    reject_unknown(list(kwargs), [*table, *DOC_PREPROCESSING, *native], where)
    check_doc_preprocessing(kwargs)
    flat = {name: value for name, value in kwargs.items() if name in table or name in DOC_PREPROCESSING}
    sections = {name: value for name, value in kwargs.items() if name in native and name not in flat}
    for section, values in params_to_sections(flat, table).items():
        if isinstance(values, dict):
            sections[section] = {**sections.get(section, {}), **values}
        else:
            sections[section] = values
    return sections if per_call or "model_set" in sections else with_model_set(sections)


def config_with_params(config: OCRConfig, kwargs: Mapping[str, Any], *, per_call: bool, where: str) -> OCRConfig:
    """``config`` with PaddleX-style keyword arguments applied (see :func:`split_call_kwargs`)."""
    sections = split_call_kwargs(kwargs, per_call=per_call, where=where)
    return config.with_overrides(**sections) if sections else config


# --- pipeline files -------------------------------------------------------------------------------------------

PADDLEX_FILE_KEYS = {"Global", "Pipeline", "SubModules", "SubPipelines", "text_type", "use_doc_preprocessor"}
"""A pipeline YAML holding any of these top-level keys is a PaddleX file, not an :class:`OCRConfig` dump."""

SUBMODULES: dict[str, tuple[str, str, dict[str, str]]] = {
    "TextDetection": ("text_detection", "text_det", {name: name for name in DET_FIELDS}),
    "TextLineOrientation": ("textline_orientation", "textline_orientation", {"batch_size": "batch_size"}),
    "TextRecognition": ("text_recognition", "text_rec", {"batch_size": "batch_size", "score_thresh": "score_thresh"}),
}
"""PaddleX 3.x ``SubModules`` entry → (its ``module_name``, config section, its keys → section fields). Every entry
also takes ``model_name`` / ``model_dir`` (→ ``model``; a ``model_dir`` wins)."""

PADDLEX_ONLY_MODELS = {"PP-LCNet_x0_25_textline_ori", "PP-LCNet_x1_0_textline_ori"}
"""PaddleX 3.x text-line classifiers whose head this service cannot run: the model set's classifier replaces them
(a warning says so)."""

BETA_PIPELINE_KEYS: dict[str, Target] = {
    "det_model": ("text_det", "model"),
    "text_det_model": ("text_det", "model"),
    "rec_model": ("text_rec", "model"),
    "text_rec_model": ("text_rec", "model"),
    "rec_batch_size": ("text_rec", "batch_size"),
    "text_rec_batch_size": ("text_rec", "batch_size"),
}
"""PaddleX 2.x / 3.0-beta ``Pipeline`` keys → config fields (a model is a registry name or a local model folder)."""

DEVICE_KEYS = ("device", "det_device", "rec_device", "text_det_device", "text_rec_device")
WARNED_KEYS = {
    "det_batch_size": "detection runs one image (one PDF page) per call",
    "text_det_batch_size": "detection runs one image (one PDF page) per call",
    "input_shape": "input shapes follow the model and the resize settings",
    "use_hpip": "PaddleX's high-performance inference plugin is not used; serve with Triton for throughput",
    "hpi_config": "PaddleX's high-performance inference plugin is not used; serve with Triton for throughput",
    "batch_size": "images run one per call in-process (Triton batches them dynamically)",
}
"""Keys the service reads but cannot honour: each gets a warning that names it and why."""


def is_paddlex_file(data: object) -> bool:
    """Whether a loaded pipeline YAML is in one of PaddleX's formats."""
    return isinstance(data, dict) and bool(PADDLEX_FILE_KEYS & set(data))


def warn_unused(where: str, value: object, why: str) -> None:
    log.warning("%s: %r is not used: %s", where, value, why)


def check_device(where: str, value: object) -> None:
    """A device other than the CPU gets a warning: in-process inference runs on the CPU."""
    if value is not None and not str(value).lower().startswith("cpu"):
        warn_unused(where, value, "the in-process engine runs on the CPU; for a GPU, serve with `triton-ocr serve "
                    "--profile gpu` and pass --server")


def check_pipeline_name(data: Mapping[str, Any], source: str) -> None:
    name = data.get("pipeline_name", "OCR")
    if name != "OCR":
        raise ConfigError(f"{source}: pipeline_name {name!r} is not served here: only the OCR pipeline is")


def beta_file_sections(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    """PaddleX 2.x / 3.0-beta file (``Global`` + ``Pipeline``) → ``with_overrides`` arguments."""
    reject_keys(data, {"Global", "Pipeline"}, source)
    check_pipeline_name(data.get("Global") or {}, f"{source} Global")
    reject_keys(data.get("Global") or {}, {"pipeline_name", "input"}, f"{source} Global")
    pipeline = data.get("Pipeline") or {}
    reject_keys(pipeline, {*BETA_PIPELINE_KEYS, *DEVICE_KEYS, *WARNED_KEYS}, f"{source} Pipeline")
    sections: dict[str, Any] = {}
    for key, value in pipeline.items():
        if key in DEVICE_KEYS:
            check_device(f"Pipeline.{key}", value)
        elif key in WARNED_KEYS:
            warn_unused(f"Pipeline.{key}", value, WARNED_KEYS[key])
        elif value is not None:
            section, field = BETA_PIPELINE_KEYS[key]
            sections.setdefault(section, {})[str(field)] = value
    return sections


def reject_keys(data: Mapping[str, Any], known: set[str], where: str) -> None:
    """:class:`ConfigError` for keys of ``data`` not in ``known`` (a misspelt key would otherwise be lost)."""
    unknown = [key for key in data if key not in known]
    if unknown:
        parts = [f"{key!r}{close_matches(str(key), sorted(known))}" for key in unknown]
        raise ConfigError(f"{where}: unknown key(s) {'; '.join(parts)}")


def submodule_fields(name: str, entry: Mapping[str, Any], source: str) -> tuple[str, dict[str, Any]]:
    """One PaddleX 3.x ``SubModules`` entry → (config section, its fields)."""
    module_name, section, fields = SUBMODULES[name]
    where = f"{source} SubModules.{name}"
    reject_keys(entry, {"module_name", "model_name", "model_dir", *fields, *WARNED_KEYS, "return_word_box"}, where)
    if entry.get("module_name", module_name) != module_name:
        raise ConfigError(f"{where}: module_name {entry['module_name']!r} should be {module_name!r}")
    values: dict[str, Any] = {}
    model = entry.get("model_dir") or entry.get("model_name")
    if model in PADDLEX_ONLY_MODELS and not entry.get("model_dir"):
        warn_unused(f"SubModules.{name}.model_name", model, "its classifier head is not supported here; the model "
                    "set's text-line classifier is used instead (docs/models.md)")
    elif model is not None:
        values["model"] = str(model)
    for key, value in entry.items():
        if key in fields and value is not None:
            values[fields[key]] = value
        elif key in WARNED_KEYS and value is not None and not (key == "batch_size" and value == 1):
            warn_unused(f"SubModules.{name}.{key}", value, WARNED_KEYS[key])
    return section, values


def doc_preprocessing(data: Mapping[str, Any]) -> dict[str, Any]:
    """``use_doc_preprocessor: true``: the sub-pipeline's flags the config serves become its fields; the others
    are named in a warning (those pages are read as they are)."""
    sub = (data.get("SubPipelines") or {}).get("DocPreprocessor") or {}
    asked = [key for key in DOC_PREPROCESSING if sub.get(key, True)]
    missing = [key for key in asked if not served(key)]
    if missing:
        kept = [key for key in asked if key not in missing]
        log.warning("use_doc_preprocessor: %s not available in this service (no UVDoc model): %s", " and ".join(missing),
                    f"only {' and '.join(kept)} runs" if kept else "images and pages are read as they are")
    return {key: True for key in asked if served(key)}


def v3_file_sections(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    """PaddleX 3.x ``OCR.yaml`` → ``with_overrides`` arguments."""
    reject_keys(data, {"pipeline_name", "text_type", "use_doc_preprocessor", "use_textline_orientation",
                       "SubModules", "SubPipelines", *DEVICE_KEYS, *WARNED_KEYS}, source)
    check_pipeline_name(data, source)
    if data.get("text_type", "general") != "general":
        raise ConfigError(f"{source}: text_type {data['text_type']!r} is not served here: only 'general' is")
    reject_keys(data.get("SubPipelines") or {}, {"DocPreprocessor"}, f"{source} SubPipelines")
    reject_keys(data.get("SubModules") or {}, set(SUBMODULES), f"{source} SubModules")
    sections: dict[str, Any] = doc_preprocessing(data) if data.get("use_doc_preprocessor") else {}
    for key in (*DEVICE_KEYS, *WARNED_KEYS):
        if key in DEVICE_KEYS:
            check_device(key, data.get(key))
        elif data.get(key) is not None:
            warn_unused(key, data[key], WARNED_KEYS[key])
    if data.get("use_textline_orientation") is not None:
        sections["use_textline_orientation"] = bool(data["use_textline_orientation"])
    for name, entry in (data.get("SubModules") or {}).items():
        section, values = submodule_fields(name, entry or {}, source)
        if "return_word_box" in (entry or {}):
            sections["return_word_box"] = bool(entry["return_word_box"])
        if values:
            sections[section] = values
    return sections


def with_model_set(sections: dict[str, Any]) -> dict[str, Any]:
    """Where the detector or recogniser named (or both) are a model set's own, read with that set — its other
    models, its classifier and its models' settings for what is left unset — instead of naming them explicitly (so
    no "keeping" warning says the user's choice differs from the default set's)."""
    owner = set_of_models(*(sections.get(s, {}).get("model") for s in ("text_det", "text_rec")))
    if owner is None:
        return sections
    sections = {**sections, "model_set": owner}
    for section in ("text_det", "text_rec"):
        if section in sections:
            sections[section] = {k: v for k, v in sections[section].items() if k != "model"}
    return sections


def config_from_paddlex_file(data: Mapping[str, Any], source: str) -> OCRConfig:
    """A loaded PaddleX pipeline file (either format) → :class:`OCRConfig`; ``source`` names it in messages."""
    if "Global" in data or "Pipeline" in data:
        sections = beta_file_sections(data, source)
    else:
        sections = v3_file_sections(data, source)
    return OCRConfig().with_overrides(**with_model_set(sections))


def file_default_input(data: object) -> str | None:
    """``Global.input`` of a PaddleX 2.x / 3.0-beta file: the CLI's input when ``--input`` is not given."""
    if isinstance(data, dict) and isinstance(data.get("Global"), dict):
        value = data["Global"].get("input")
        return str(value) if value else None
    return None
