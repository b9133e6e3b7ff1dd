"""PaddleX 3.x's ``POST /ocr`` answer: a request with ``file`` (an image or a PDF) gets one ``ocrResults`` entry per
image or page — ``prunedResult`` (the pipeline's result without ``input_path``, as PaddleX prunes it),
``ocrImage``, ``docPreprocessingImage``, ``inputImage`` — and ``dataInfo`` describing the file.

The CPU-heavy functions here (drawing, JSON) are plain functions the app runs in its thread pool; PDF pages come
from :class:`~triton_ocr.steps.pdf_worker.PdfWorker`.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any, Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel, Field

from triton_ocr.config import ImageConfig
from triton_ocr.errors import InvalidImageError
from triton_ocr.gateway.images import downscaled
from triton_ocr.result import OCRResult
from triton_ocr.steps import pdf_pages
from triton_ocr.steps.doc_orientation import turn_page
from triton_ocr.steps.image_loading import decode_image
from triton_ocr.visualize import draw_ocr_result

FILE_TYPES = {0: "pdf", 1: "image"}
"""PaddleX's ``fileType``: 0 a PDF, 1 an image."""


class PageInfo(BaseModel):
    width: int
    height: int


class ImageInfo(PageInfo):
    type: Literal["image"] = "image"


class PdfInfo(BaseModel):
    numPages: int = Field(..., description="pages in the file (only the first image.pdf_max_pages are read)")
    pages: list[PageInfo] = Field(..., description="pixel size of each page read")
    type: Literal["pdf"] = "pdf"
    numPagesRead: int = Field(..., description="extension: how many pages were read (fewer than numPages when the "
                              "page limit cut the file short; result.warnings then says so)")


class PageResult(BaseModel):
    prunedResult: dict[str, Any] = Field(..., description="the pipeline's result (rec_texts, rec_scores, "
                                         "rec_polys, rec_boxes, ...) without input_path")
    ocrImage: str | None = Field(..., description="JPEG (base64): boxes and texts; null when visualize is false")
    docPreprocessingImage: str | None = Field(..., description="JPEG (base64) of the page turned upright, where "
                                              "useDocOrientationClassify ran; else null")
    inputImage: str | None = Field(..., description="JPEG (base64) of the page read; null when visualize is false")


class InferResult(BaseModel):
    ocrResults: list[PageResult]
    dataInfo: ImageInfo | PdfInfo
    warnings: list[str] = Field(..., description="extension: what the answer leaves out (a PDF's pages beyond the "
                                "page limit); empty when nothing")


class OCRResponseV3(BaseModel):
    logId: str
    errorCode: Literal[0]
    errorMsg: Literal["Success"]
    result: InferResult


def file_kind(data: bytes, file_type: int | None) -> Literal["pdf", "image"]:
    """The file's kind from its content; a ``fileType`` that says otherwise is an error naming both."""
    kind: Literal["pdf", "image"] = "pdf" if pdf_pages.is_pdf(data) else "image"
    if file_type is not None and FILE_TYPES[file_type] != kind:
        actual = "a PDF" if kind == "pdf" else "not a PDF"
        raise InvalidImageError(f"fileType is {file_type} ({FILE_TYPES[file_type]}) but the file is {actual}")
    return kind


def pdf_data_info(info: pdf_pages.PdfInfo) -> PdfInfo:
    """A PDF's ``dataInfo``."""
    return PdfInfo(numPages=info.num_pages, pages=[PageInfo(width=w, height=h) for w, h in info.page_sizes],
                   numPagesRead=len(info.page_sizes))


def image_file_info(data: bytes, limits: ImageConfig) -> tuple[np.ndarray, ImageInfo]:
    """An image file → its BGR uint8 pixels and its ``dataInfo``."""
    image = decode_image(data, limits)
    return image, ImageInfo(width=image.shape[1], height=image.shape[0])


def jpeg_base64(image_rgb: Image.Image | np.ndarray, quality: int) -> str:
    picture = image_rgb if isinstance(image_rgb, Image.Image) else Image.fromarray(image_rgb)
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def page_result(result: OCRResult, visualize: bool, quality: int, max_side: int) -> dict[str, Any]:
    """One ``ocrResults`` entry (runs in the thread pool: drawing and JPEG encoding); the pictures at most
    ``max_side`` pixels on their long side (:func:`~triton_ocr.gateway.images.downscaled`)."""
    pruned = {key: value for key, value in result.to_json_dict().items() if key != "input_path"}
    ocr_image = input_image = preprocessed = None
    if visualize:
        image, polys = downscaled(result.source_image(), result["rec_polys"], max_side)
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        ocr_image = jpeg_base64(draw_ocr_result(rgb, polys, result["rec_texts"]), quality)
        input_image = jpeg_base64(rgb, quality)
        if "doc_preprocessor_res" in result:  # the page turned upright, as the detector read it
            preprocessed = jpeg_base64(turn_page(rgb, result["doc_preprocessor_res"]["angle"]), quality)
    return {"prunedResult": pruned, "ocrImage": ocr_image, "docPreprocessingImage": preprocessed,
            "inputImage": input_image}


def envelope(log_id: str, pages: list[dict[str, Any]], data_info: ImageInfo | PdfInfo,
             warnings: list[str] | None = None) -> bytes:
    """The 3.x success body."""
    payload = {
        "logId": log_id, "errorCode": 0, "errorMsg": "Success",
        "result": {"ocrResults": pages, "dataInfo": data_info.model_dump(), "warnings": warnings or []},
    }
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")
