"""PP-OCRv4 general OCR: in-process pipeline, Triton serving, PaddleX-compatible API.

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
    "create_pipeline",
    "load_config",
]
