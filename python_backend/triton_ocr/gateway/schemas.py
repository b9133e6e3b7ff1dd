"""The wire format: PaddleX's OCR serving envelope (``POST /ocr``), with PaddleX 3.x parameter names as extensions.

Request ``{"image": <base64 or URL>, "inferenceParams": {"maxLongSide": int}}``; success
``{"logId", "errorCode": 0, "errorMsg": "Success", "result": {"texts": [{"poly", "text", "score"}], "image"}}``;
failure ``{"logId", "errorCode": <HTTP status>, "errorMsg"}``. These models are what ``/openapi.json`` shows.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from annotated_types import Le
from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from triton_ocr.config import OCRConfig
from triton_ocr.contract import MAX_SIDE, REQUEST_FIELDS, RequestField
from triton_ocr.errors import ConfigError
from triton_ocr.models.model_sets import model_set
from triton_ocr.paddlex_compat import UNAVAILABLE, split_call_kwargs


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


class RequestBody(BaseModel):
    """The fields of ``POST /ocr`` that are not per-request pipeline parameters (those come from
    :data:`~triton_ocr.contract.REQUEST_FIELDS`: :class:`OCRRequest`)."""

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
    useDocUnwarping: bool | None = Field(None, description="PaddleX 3.x: not available here; true is a 422")

    @field_validator("modelSet")
    @classmethod
    def known_model_set(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                model_set(value)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return value

    def given(self) -> list[RequestField]:
        """The per-request pipeline parameters this request sets."""
        return [field for field in REQUEST_FIELDS if getattr(self, field.http) is not None]

    def overrides(self) -> dict[str, Any]:
        """The per-request pipeline overrides, by :class:`~triton_ocr.config.OCRConfig` section."""
        params = {field.python: getattr(self, field.http) for field in self.given()}
        if self.inferenceParams is not None and self.inferenceParams.maxLongSide is not None:
            params.update(text_det_limit_side_len=self.inferenceParams.maxLongSide, text_det_limit_type="max")
        overrides = split_call_kwargs(params, per_call=True, where="POST /ocr")
        if self.modelSet is not None:
            overrides["model_set"] = self.modelSet
        return overrides

    def conflict(self) -> str | None:
        """A message when two parameters say different things (or none names the image)."""
        if (self.image is None) == (self.file is None):
            return "give the image in exactly one of image (PaddleX 3.0-beta) or file (PaddleX 3.x)"
        if self.image is not None and self.fileType is not None:
            return "fileType goes with file, not with image"
        if self.useDocUnwarping:
            return f"useDocUnwarping: {UNAVAILABLE['use_doc_unwarping'].split(':')[0]}; send false or leave it out"
        if getattr(self, "returnWordBox", None) and self.image is not None:
            return "returnWordBox goes with file: the words come in PaddleX 3.x's answer (prunedResult.text_word)"
        if (
            self.inferenceParams is not None
            and self.inferenceParams.maxLongSide is not None
            and (getattr(self, "textDetLimitSideLen", None) is not None
                 or getattr(self, "textDetLimitType", None) is not None)
        ):
            return "inferenceParams.maxLongSide cannot be combined with textDetLimitSideLen/textDetLimitType: give one"
        return None


def http_field(field: RequestField) -> tuple[Any, Any]:
    """The HTTP field of a per-request parameter: typed and bounded as its config field (and ``max_value``),
    ``null`` meaning the server's config."""
    model: type[BaseModel] = OCRConfig if field.field is None else OCRConfig.model_fields[field.section].annotation
    info = model.model_fields[field.field or field.section]
    bounds = [*info.metadata, *([Le(field.max_value)] if field.max_value is not None else [])]
    annotation = Annotated[(info.annotation, *bounds)] if bounds else info.annotation
    return annotation | None, Field(None, description=f"PaddleX 3.x: {field.description}")


OCRRequest = create_model(
    "OCRRequest",
    __base__=RequestBody,
    __doc__="Body of ``POST /ocr``: ``image`` gets the 3.0-beta answer, ``file`` the 3.x one. An unknown key is "
    "a 422.",
    **{field.http: http_field(field) for field in REQUEST_FIELDS},
)


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
