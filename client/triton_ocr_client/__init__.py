"""Client library of the Triton OCR service: the in-process ``predict()`` API over gRPC or HTTP.

    from triton_ocr_client import OCRClient
    for result in OCRClient.from_url("grpc://127.0.0.1:8001").predict("image.png"):
        result.print()
"""

from triton_ocr_client.client import AsyncOCRClient, OCRClient
from triton_ocr_client.protocol import Reply, Request
from triton_ocr_client.errors import (
    BadInputError,
    ClientError,
    InferenceError,
    InferenceTimeoutError,
    ModelNotServedError,
    ModelRecoveringError,
    OverloadedError,
    ServerUnavailableError,
)

__all__ = [
    "AsyncOCRClient",
    "BadInputError",
    "ClientError",
    "InferenceError",
    "InferenceTimeoutError",
    "ModelNotServedError",
    "ModelRecoveringError",
    "OCRClient",
    "OverloadedError",
    "Reply",
    "Request",
    "ServerUnavailableError",
]
