"""The wire format: PaddleX's OCR serving envelope (``POST /ocr``), with PaddleX 3.x parameter names as extensions.

Request ``{"image": <base64 or URL>, "inferenceParams": {"maxLongSide": int}}``; success
``{"logId", "errorCode": 0, "errorMsg": "Success", "result": {"texts": [{"poly", "text", "score"}], "image"}}``;
failure ``{"logId", "errorCode": <HTTP status>, "errorMsg"}``. These models are what ``/openapi.json`` shows.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from triton_ocr.errors import ConfigError
from triton_ocr.models.model_sets import model_set
from triton_ocr.paddlex_compat import UNAVAILABLE, served, split_call_kwargs

MAX_SIDE = 8192
"""Largest side length a request may ask for (the pipeline's ``text_det.max_side_limit`` caps it further)."""


class InferenceParams(BaseModel):
    """PaddleX's ``inferenceParams`` (3.0-beta declares ``maxLongSide`` only). An unknown key is a 422."""

    model_config = ConfigDict(extra="forbid")

    maxLongSide: int | None = Field(
        None,
        ge=32,
        le=MAX_SIDE,
        description="resize so that the long side is at most this before detection "
        "(text_det.limit_side_len with limit_type max); the detector's input size is in X-Det-Input-Size",
    )


class OCRRequest(BaseModel):
    """Body of ``POST /ocr``: ``image`` gets the 3.0-beta answer, ``file`` the 3.x one. An unknown key is a 422."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"image": "iVBORw0KGgo...", "visualize": False}}
    )

    image: str | None = Field(
        None,
        min_length=1,
        description="the image file (JPEG, PNG, BMP, TIFF, WebP...; its kind is read from its content) in base64 "
        "(a data: URL is accepted too), or an http(s) URL the gateway downloads",
    )
    inferenceParams: InferenceParams | None = None
    textDetLimitSideLen: int | None = Field(
        None, ge=32, le=MAX_SIDE, description="PaddleX 3.x: detection resize side length (text_det.limit_side_len)"
    )
    textDetLimitType: Literal["min", "max"] | None = Field(
        None, description="PaddleX 3.x: whether textDetLimitSideLen bounds the long side (max) or the short side (min)"
    )
    textDetThresh: float | None = Field(None, ge=0, le=1, description="PaddleX 3.x: DB pixel threshold")
    textDetBoxThresh: float | None = Field(None, ge=0, le=1, description="PaddleX 3.x: DB box score threshold")
    textDetUnclipRatio: float | None = Field(None, gt=0, le=10, description="PaddleX 3.x: DB box expansion ratio")
    textRecScoreThresh: float | None = Field(
        None, ge=0, le=1, description="PaddleX 3.x: lines recognised with a lower score are dropped"
    )
    visualize: bool | None = Field(
        None, description="PaddleX 3.x: false leaves result.image null (saves drawing and bandwidth); default true"
    )
    modelSet: str | None = Field(
        None,
        description="the model set that reads this image (e.g. PP-OCRv4_mobile, PP-OCRv6_small): one the server "
        "serves (`triton-ocr serve --models`); default: the server's own",
    )

    file: str | None = Field(
        None,
        min_length=1,
        description="PaddleX 3.x: an image or a PDF (first image.pdf_max_pages pages) in base64, or an http(s) URL; "
        "answered in PaddleX 3.x's shape (result.ocrResults[], result.dataInfo). Give image or file, not both",
    )
    fileType: Literal[0, 1] | None = Field(
        None, description="PaddleX 3.x: 0 PDF, 1 image; default: read from the content (a mismatch is a 422)"
    )
    useDocOrientationClassify: bool | None = Field(
        None, description="PaddleX 3.x: classify the page's orientation first (where the service has the model)"
    )
    useDocUnwarping: bool | None = Field(None, description="PaddleX 3.x: not available here; true is a 422")
    useTextlineOrientation: bool | None = Field(
        None, description="PaddleX 3.x: turn upside-down lines (the served pipeline must have the classifier)"
    )
    returnWordBox: bool | None = Field(
        None,
        description="PaddleX 3.x (with file): also return each line's words, their polygons and boxes "
        "(prunedResult.text_word, text_word_region, text_word_boxes)",
    )

    @field_validator("modelSet")
    @classmethod
    def known_model_set(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                model_set(value)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return value

    def paddlex_params(self) -> dict[str, Any]:
        """The PaddleX 3.x flags as ``predict()`` names (``None``: left to the pipeline config)."""
        return {
            name: value
            for name, value in (
                ("use_doc_orientation_classify", self.useDocOrientationClassify),
                ("use_doc_unwarping", self.useDocUnwarping),
                ("use_textline_orientation", self.useTextlineOrientation),
                ("return_word_box", self.returnWordBox),
            )
            if value is not None
        }

    def overrides(self) -> dict[str, dict[str, Any]]:
        """The per-request pipeline overrides, by :class:`~triton_ocr.config.OCRConfig` section."""
        det: dict[str, Any] = {}
        if self.inferenceParams is not None and self.inferenceParams.maxLongSide is not None:
            det.update(limit_side_len=self.inferenceParams.maxLongSide, limit_type="max")
        for name, field in (
            ("textDetLimitSideLen", "limit_side_len"),
            ("textDetLimitType", "limit_type"),
            ("textDetThresh", "thresh"),
            ("textDetBoxThresh", "box_thresh"),
            ("textDetUnclipRatio", "unclip_ratio"),
        ):
            value = getattr(self, name)
            if value is not None:
                det[field] = value
        rec = {"score_thresh": self.textRecScoreThresh} if self.textRecScoreThresh is not None else {}
        sections = (("text_det", det), ("text_rec", rec))
        overrides: dict[str, Any] = {section: values for section, values in sections if values}
        if self.modelSet is not None:
            overrides["model_set"] = self.modelSet
        overrides.update(split_call_kwargs(self.paddlex_params(), per_call=True, where="POST /ocr"))
        return overrides

    def conflict(self) -> str | None:
        """A message when two parameters say different things (or none names the image)."""
        if (self.image is None) == (self.file is None):
            return "give the image in exactly one of image (PaddleX 3.0-beta) or file (PaddleX 3.x)"
        if self.image is not None and self.fileType is not None:
            return "fileType goes with file, not with image"
        for name, value, param in (
            ("useDocUnwarping", self.useDocUnwarping, "use_doc_unwarping"),
            ("useDocOrientationClassify", self.useDocOrientationClassify, "use_doc_orientation_classify"),
        ):
            if value and not served(param):
                return f"{name}: {UNAVAILABLE[param].split(':')[0]}; send false or leave it out"
        if self.returnWordBox and self.image is not None:
            return "returnWordBox goes with file: the words come in PaddleX 3.x's answer (prunedResult.text_word)"
        if (
            self.inferenceParams is not None
            and self.inferenceParams.maxLongSide is not None
            and (self.textDetLimitSideLen is not None or self.textDetLimitType is not None)
        ):
            return "inferenceParams.maxLongSide cannot be combined with textDetLimitSideLen/textDetLimitType: give one"
        return None


REQUEST_OBJECTS: dict[tuple[str, ...], type[BaseModel]] = {(): OCRRequest, ("inferenceParams",): InferenceParams}
"""The JSON objects of a ``POST /ocr`` body by their location: which keys each accepts."""


Point = Annotated[list[int], Field(min_length=2, max_length=2, description="[x, y] in image pixels")]


class Text(BaseModel):
    """One recognised line."""

    poly: list[Point] = Field(..., min_length=4, max_length=4, description="corners: top-left, top-right, "
                              "bottom-right, bottom-left")
    text: str
    score: float = Field(..., description="recognition confidence, 0..1")


class OCRResultBody(BaseModel):
    texts: list[Text] = Field(..., description="lines in reading order")
    image: str | None = Field(
        ..., description="JPEG (base64) of the image with the detected boxes drawn; null when visualize is false"
    )


class OCRResponse(BaseModel):
    logId: str
    errorCode: Literal[0]
    errorMsg: Literal["Success"]
    result: OCRResultBody


class ErrorResponse(BaseModel):
    logId: str
    errorCode: int = Field(..., ge=400, le=599, description="the HTTP status")
    errorMsg: str = Field(..., description="what went wrong; for 422, the field at fault comes first")


class HealthResponse(BaseModel):
    logId: str
    errorCode: Literal[0]
    errorMsg: str


RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "missing or wrong X-API-Key (when the gateway has an API key)"},
    408: {"model": ErrorResponse, "description": "the request body arrived too slowly"},
    413: {"model": ErrorResponse, "description": "body, download or image (bytes or pixels) too large"},
    415: {"model": ErrorResponse, "description": "the body is not sent as application/json"},
    422: {"model": ErrorResponse, "description": "invalid field, not JSON, not a decodable image, refused URL"},
    503: {"model": ErrorResponse, "description": "too many requests in flight or bodies being received, or the OCR "
          "server is unavailable or overloaded", "headers": RETRY_AFTER},
    504: {"model": ErrorResponse, "description": "inference timed out"},
    500: {"model": ErrorResponse, "description": "a bug, logged with the logId"},
}
