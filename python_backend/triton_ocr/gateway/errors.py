"""How failures become HTTP answers: every error a caller or the backend can cause maps to one status here.

Anything not listed is a bug: the app answers 500 and logs it with the request's ``logId``.
"""

from __future__ import annotations

import asyncio

from triton_ocr.errors import ConfigError, ImageFetchError, ImageTooLargeError, InvalidImageError
from triton_ocr_client.errors import (
    InferenceTimeoutError,
    ModelNotServedError,
    OverloadedError,
    ServerUnavailableError,
)


class HTTPError(Exception):
    """An answer other than success: the HTTP status (also the envelope's ``errorCode``), a message for the caller
    and extra response headers (``Retry-After``, ``WWW-Authenticate``, ``Allow``). The message is always a ``str``
    (an exception given as the message is turned into its text), so the envelope can always be written."""

    def __init__(self, status: int, message: str | BaseException, headers: dict[str, str] | None = None) -> None:
        text = str(message)
        super().__init__(text)
        self.status = status
        self.message = text
        self.headers = headers or {}


def http_error(exc: BaseException, retry_after_s: int, field: str = "image") -> HTTPError | None:
    """The answer for a known failure, ``None`` for a bug; ``field``: the request field that carried the input
    (``image``, or PaddleX 3.x's ``file``), named in the input's errors."""
    retry = {"Retry-After": str(retry_after_s)}
    if isinstance(exc, HTTPError):
        return exc
    if isinstance(exc, OverloadedError):
        return HTTPError(503, f"the OCR server is overloaded, retry later: {exc}", retry)
    if isinstance(exc, ServerUnavailableError):
        return HTTPError(503, f"the OCR server is unavailable, retry later: {exc}", retry)
    if isinstance(exc, (InferenceTimeoutError, TimeoutError, asyncio.TimeoutError)):
        return HTTPError(504, f"inference timed out: {exc}" if str(exc) else "inference timed out")
    if isinstance(exc, ImageTooLargeError):
        return HTTPError(413, f"{field}: {exc}")
    if isinstance(exc, (InvalidImageError, ImageFetchError)):
        return HTTPError(422, f"{field}: {exc}")
    if isinstance(exc, ModelNotServedError):
        return HTTPError(422, f"modelSet: {exc}")
    if isinstance(exc, ConfigError):
        return HTTPError(422, str(exc))
    return None
