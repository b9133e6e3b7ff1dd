"""PP-OCR general OCR (PP-OCRv4/v5/v6): in-process pipeline, Triton serving, PaddleX- and PaddleOCR-compatible API.

>>> from triton_ocr import create_pipeline
>>> for result in create_pipeline("OCR").predict("page.png"):
...     result.print()
"""

from triton_ocr.config import OCRConfig, load_config
from triton_ocr.errors import (
    ConfigError,
    ImageFetchError,
    ImageTooLargeError,
    ImageTooSmallError,
    InputNotFoundError,
    InvalidImageError,
    ModelNotFoundError,
    OCRError,
)
from triton_ocr.paddleocr_compat import PaddleOCR
from triton_ocr.pipeline import OCRPipeline, create_pipeline
from triton_ocr.result import OCRResult

__all__ = [
    "ConfigError",
    "ImageFetchError",
    "ImageTooLargeError",
    "ImageTooSmallError",
    "InputNotFoundError",
    "InvalidImageError",
    "ModelNotFoundError",
    "OCRConfig",
    "OCRError",
    "OCRPipeline",
    "OCRResult",
    "PaddleOCR",
    "create_pipeline",
    "load_config",
]
