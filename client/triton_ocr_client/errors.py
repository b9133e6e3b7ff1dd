"""Typed client errors; :func:`classify` turns a tritonclient / transport failure into one of them."""

from __future__ import annotations

from triton_ocr.errors import InvalidImageError, OCRError


class ClientError(OCRError):
    """Base class of every error the client raises for a failed request."""


class ServerUnavailableError(ClientError, ConnectionError):
    """The server cannot be reached (not running, wrong address, connection dropped)."""


class ModelRecoveringError(ServerUnavailableError):
    """A model of the pipeline cannot serve for a moment: its python stub died, or it is being reloaded."""


class BadInputError(ClientError, InvalidImageError):
    """The server rejected this request's image or parameters (corrupt, too large, invalid threshold...)."""


class OverloadedError(ClientError):
    """The server refused the request because its queues are full: retry later or slow down."""


class InferenceTimeoutError(ClientError, TimeoutError):
    """No answer within the client's time-out."""


class ModelNotServedError(ClientError, LookupError):
    """The server does not serve the model asked for: a model set it was not started with (``serve --models``)."""


class InferenceError(ClientError):
    """The server failed to process a valid request (an internal error)."""


OVERLOAD_MARKERS = ("exceeds maximum queue size", "queue is full", "rejected")
RECOVERING_MARKERS = ("is not healthy", "has no available versions", "is not ready")
"""Triton's words for a stub that died and a model being unloaded/loaded (by the supervisor's heal)."""
UNREACHABLE_MARKERS = ("failed to connect", "connection refused", "socket closed", "connection reset", "unreachable")


def classify(exc: BaseException) -> ClientError:
    """The typed error for a failure of one request (``exc`` is kept as its cause by the caller)."""
    if isinstance(exc, ClientError):
        return exc
    message = str(exc.message() if hasattr(exc, "message") and callable(exc.message) else exc) or type(exc).__name__
    status = str(exc.status() if hasattr(exc, "status") and callable(exc.status) else "")
    lowered = message.lower()
    if isinstance(exc, TimeoutError) or status in ("StatusCode.DEADLINE_EXCEEDED", "504") or "timed out" in lowered:
        return InferenceTimeoutError(message)
    if any(marker in lowered for marker in RECOVERING_MARKERS):
        return ModelRecoveringError(message)
    if "unknown model" in lowered:
        return ModelNotServedError(f"{message} (a model set is served only where the server was started with it: "
                                   "`triton-ocr serve --models SET,...`)")
    if status in ("StatusCode.INVALID_ARGUMENT", "400"):
        return BadInputError(message)
    if any(marker in lowered for marker in OVERLOAD_MARKERS) or status == "429":
        return OverloadedError(message)
    if isinstance(exc, OSError) or any(marker in lowered for marker in UNREACHABLE_MARKERS):
        return ServerUnavailableError(message)
    if status in ("StatusCode.UNAVAILABLE", "503"):
        return OverloadedError(message)
    return InferenceError(message)
