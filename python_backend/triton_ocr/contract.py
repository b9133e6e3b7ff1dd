"""The names and types the Triton models, the repository renderer and the client agree on.

Shared by the server side and the client library (which imports this module, not the server's). Public entry
points (:data:`ENTRIES`): ``ocr`` (encoded image bytes) and ``ocr_raw`` (a BGR ``uint8`` array), and the same per
served model set (:func:`lane_model`). Both take the
optional per-request inputs of :data:`TUNABLE_INPUTS` (Triton 2.51 ensembles forward optional inputs but not request
parameters) and return :data:`OUTPUTS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

OCR = "ocr"
OCR_RAW = "ocr_raw"
DET_PREPROCESS = "det_preprocess"
TEXT_DET = "text_det"
TEXT_REC = "text_rec"
OCR_POSTPROCESS = "ocr_postprocess"
TEXTLINE_ORIENTATION = "textline_orientation"
"""The angle classifier, in the repository whenever it is installed (``use_textline_orientation`` per request)."""
DOC_ORIENTATION = "doc_orientation"
"""The page classifier, in the repository whenever it is installed (``use_doc_orientation_classify`` per request)."""


def lane_model(model: str, model_set: str) -> str:
    """The Triton name of ``model`` in the lane of ``model_set`` (a repository serving several model sets):
    ``ocr.PP-OCRv5_mobile``, ``text_rec.PP-OCRv5_mobile``. Every served set answers at ``lane_model(OCR, set)``
    (and ``OCR_RAW``); the plain names are the server's primary set."""
    return f"{model}.{model_set}"

IMAGE = "image"
"""Entry input: ``ocr`` BYTES [1] (encoded image), ``ocr_raw`` UINT8 [-1, -1, 3] (BGR)."""
IMAGE_BYTES = "image_bytes"
IMAGE_ARRAY = "image_array"
DET_TENSOR = "det_tensor"
DECODED_IMAGE = "decoded_image"
PROB_MAP = "prob_map"
DET_INPUT_SIZE = "det_input_size"


NUMPY_TYPES: dict[str, type] = {
    "FP32": np.float32, "INT32": np.int32, "INT64": np.int64, "UINT8": np.uint8, "BYTES": np.object_, "BOOL": np.bool_
}
"""Triton data type → the numpy dtype a tensor of it travels as."""


@dataclass(frozen=True)
class TensorSpec:
    """A tensor: name, Triton data type (``FP32``, ``INT32``, ``INT64``, ``UINT8``, ``BYTES``, ``BOOL``) and dims
    (-1: variable)."""

    name: str
    datatype: str
    dims: tuple[int, ...]


@dataclass(frozen=True)
class TunableInput:
    """An optional scalar input that overrides ``OCRConfig.<section>.<field>`` for one request (``field`` ``None``:
    the top-level flag ``OCRConfig.<section>``)."""

    name: str
    section: str
    field: str | None
    datatype: str
    step: str

    @property
    def spec(self) -> TensorSpec:
        return TensorSpec(self.name, self.datatype, (1,))

    @property
    def path(self) -> str:
        """``text_det.thresh``, or ``return_word_box`` for a top-level flag."""
        return self.section if self.field is None else f"{self.section}.{self.field}"

    def value(self, config: Any) -> Any:
        """This input's field in ``config`` (an ``OCRConfig``)."""
        section = getattr(config, self.section)
        return section if self.field is None else getattr(section, self.field)

    def override(self, value: Any) -> dict[str, Any]:
        """``OCRConfig.with_overrides`` arguments setting this input's field to ``value``."""
        return {self.section: value} if self.field is None else {self.section: {self.field: value}}

    def given_in(self, overrides: Mapping[str, Any]) -> bool:
        """Whether ``with_overrides`` arguments ``overrides`` set this input's field."""
        if self.field is None:
            return self.section in overrides
        values = overrides.get(self.section)
        return isinstance(values, Mapping) and self.field in values


@dataclass(frozen=True)
class RequestField:
    """One per-request parameter, declared once: PaddleX 3.x's ``predict()`` keyword (``python``), its
    ``POST /ocr`` field (``http``), the ``OCRConfig`` field it sets (``field`` ``None``: the top-level flag
    ``OCRConfig.<section>``) and, where a Triton server changes it per request, the served entries' optional input
    (``triton``, its data type and the python model that reads it). ``max_value``: a bound the HTTP edge adds to
    the config field's own."""

    python: str
    http: str
    section: str
    field: str | None
    description: str
    triton: str | None = None
    datatype: str | None = None
    step: str | None = None
    max_value: int | None = None

    @property
    def path(self) -> str:
        """``text_det.thresh``, or ``return_word_box`` for a top-level flag."""
        return self.section if self.field is None else f"{self.section}.{self.field}"


MAX_SIDE = 8192
"""Largest side length a request may ask for (``text_det.max_input_pixels`` caps the detector's area further)."""

REQUEST_FIELDS: tuple[RequestField, ...] = (
    RequestField("text_det_limit_side_len", "textDetLimitSideLen", "text_det", "limit_side_len",
                 "detection resize side length (text_det.limit_side_len)",
                 "det_limit_side_len", "INT32", DET_PREPROCESS, MAX_SIDE),
    RequestField("text_det_limit_type", "textDetLimitType", "text_det", "limit_type",
                 "whether textDetLimitSideLen bounds the long side (max) or the short side (min)",
                 "det_limit_type", "BYTES", DET_PREPROCESS),
    RequestField("text_det_max_side_limit", "textDetMaxSideLimit", "text_det", "max_side_limit",
                 "hard cap on the resized long side (text_det.max_side_limit)",
                 "det_max_side_limit", "INT32", DET_PREPROCESS, MAX_SIDE),
    RequestField("text_det_thresh", "textDetThresh", "text_det", "thresh", "DB pixel threshold",
                 "det_thresh", "FP32", OCR_POSTPROCESS),
    RequestField("text_det_box_thresh", "textDetBoxThresh", "text_det", "box_thresh", "DB box score threshold",
                 "det_box_thresh", "FP32", OCR_POSTPROCESS),
    RequestField("text_det_unclip_ratio", "textDetUnclipRatio", "text_det", "unclip_ratio",
                 "DB box expansion ratio", "det_unclip_ratio", "FP32", OCR_POSTPROCESS, 10),
    RequestField("text_rec_score_thresh", "textRecScoreThresh", "text_rec", "score_thresh",
                 "lines recognised with a lower score are dropped", "rec_score_thresh", "FP32", OCR_POSTPROCESS),
    RequestField("return_word_box", "returnWordBox", "return_word_box", None,
                 "(with file) also return each line's words, their polygons and boxes (prunedResult.text_word, "
                 "text_word_region, text_word_boxes)", "return_word_box", "BOOL", OCR_POSTPROCESS),
    RequestField("use_textline_orientation", "useTextlineOrientation", "use_textline_orientation", None,
                 "turn upside-down lines (a 0/180° classifier); default: the server's config",
                 "use_textline_orientation", "BOOL", OCR_POSTPROCESS),
    RequestField("use_doc_orientation_classify", "useDocOrientationClassify", "use_doc_orientation_classify", None,
                 "turn the page upright first (a 0/90/180/270° classifier); default: the server's config",
                 "use_doc_orientation_classify", "BOOL", DET_PREPROCESS),
)
"""Every per-request parameter with a config field, in PaddleX's order: the Python keywords
(:data:`triton_ocr.paddlex_compat.PREDICT_PARAMS`), the HTTP fields (:class:`triton_ocr.gateway.schemas.OCRRequest`,
typed and bounded as the config fields are) and the Triton tunables (:data:`TUNABLE_INPUTS`) come from here.
PaddleX's ``use_doc_unwarping`` has no field: ``True`` is refused (:data:`triton_ocr.paddlex_compat.UNAVAILABLE`)."""

TUNABLE_INPUTS = tuple(
    TunableInput(f.triton, f.section, f.field, f.datatype, f.step)
    for f in REQUEST_FIELDS if f.triton is not None and f.datatype is not None and f.step is not None
)
"""The served entries' optional per-request inputs."""

POLYS = TensorSpec("polys", "FP32", (-1, 4, 2))
DET_SCORES = TensorSpec("det_scores", "FP32", (-1,))
TEXTS = TensorSpec("texts", "BYTES", (-1,))
REC_SCORES = TensorSpec("rec_scores", "FP32", (-1,))
DET_SIZE = TensorSpec(DET_INPUT_SIZE, "INT32", (2,))
DOC_ANGLE = TensorSpec("doc_angle", "INT32", (1,))
"""The page's angle found by the page classifier (0, 90, 180, 270); -1 where it did not run."""
LINE_ANGLES = TensorSpec("line_angles", "INT32", (-1,))
"""Per line: 1 where the text-line classifier turned it by 180°, 0 where not, -1 where the classifier did not run."""
WORD_COUNTS = TensorSpec("word_counts", "INT32", (-1,))
"""Per line, how many of ``word_texts`` / ``word_polys`` (in line order) are its words; empty (0,) unless the request
asked for word boxes (``return_word_box``)."""
WORD_TEXTS = TensorSpec("word_texts", "BYTES", (-1,))
"""Every line's words, one after the other (UTF-8)."""
WORD_POLYS = TensorSpec("word_polys", "FP32", (-1, 4, 2))
"""Their polygons in the input image's pixels (corners in the order of their line's polygon)."""
WORD_OUTPUTS = (WORD_COUNTS, WORD_TEXTS, WORD_POLYS)
LINE_OUTPUTS = (POLYS, DET_SCORES, TEXTS, REC_SCORES, LINE_ANGLES, *WORD_OUTPUTS)
"""What ``ocr_postprocess`` returns."""
RESULT_OUTPUTS = (*LINE_OUTPUTS, DOC_ANGLE)
"""What a client builds its result from."""
OUTPUTS = (*LINE_OUTPUTS, DET_SIZE, DOC_ANGLE)
"""What ``ocr`` and ``ocr_raw`` return: lines in reading order (in the input image's pixels) with their orientation
decisions and (when asked) their words, the detector's input (h, w) before padding, and the page's angle."""


@dataclass(frozen=True)
class Entry:
    """A public entry model: its ``image`` input, which ``det_preprocess`` input the image feeds, and whether it
    takes encoded files (``BYTES``) or decoded BGR arrays."""

    name: str
    image: TensorSpec
    image_key: str

    @property
    def encoded(self) -> bool:
        return self.image.datatype == "BYTES"

    def input_spec(self, name: str) -> TensorSpec:
        """The spec of this entry's input ``name`` (the image or a tunable)."""
        for spec in (self.image, *(t.spec for t in TUNABLE_INPUTS)):
            if spec.name == name:
                return spec
        raise KeyError(f"{self.name} has no input {name!r}")


OCR_ENTRY = Entry(OCR, TensorSpec(IMAGE, "BYTES", (1,)), IMAGE_BYTES)
OCR_RAW_ENTRY = Entry(OCR_RAW, TensorSpec(IMAGE, "UINT8", (-1, -1, 3)), IMAGE_ARRAY)
ENTRIES = (OCR_ENTRY, OCR_RAW_ENTRY)


def tunables_for(step: str) -> tuple[TunableInput, ...]:
    return tuple(t for t in TUNABLE_INPUTS if t.step == step)
