"""Typed errors. Every failure a caller can cause maps to one of these, never to a bare exception."""


class OCRError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(OCRError, ValueError):
    """A pipeline configuration or parameter is invalid."""


class InvalidImageError(OCRError, ValueError):
    """The input is not a decodable image (corrupt, truncated, not an image, unsupported kind)."""


class ImageTooSmallError(InvalidImageError):
    """The image is smaller than the configured minimum side."""


class ImageTooLargeError(InvalidImageError):
    """The image (encoded bytes or decoded pixels) exceeds the configured limit."""


class InputNotFoundError(OCRError, FileNotFoundError):
    """A path given as input does not exist or holds no image."""


class ImageFetchError(OCRError):
    """A URL input could not be downloaded."""


class ModelNotFoundError(OCRError, LookupError):
    """A model name or folder cannot be resolved to model files."""


class InvalidModelInputError(OCRError, ValueError):
    """A tensor sent to a model has a shape or dtype the model cannot run (checked before the engine sees it)."""


class DeviceUnavailableError(ConfigError):
    """The configured device (``--device`` / ``runtime.device``, e.g. ``gpu:1``) is not present on this machine."""


SHOWN_CHARS = 100
"""How much of a caller's value an error message repeats."""


def shown(value: str, *, quoted: bool = True, limit: int = SHOWN_CHARS) -> str:
    """``value`` as an error message repeats it: quoted (``repr``) unless ``quoted`` is false, and beyond ``limit``
    characters cut, with an ellipsis and its length (``'aaaa…' (8388608 characters)``): an 8 MB field sent back in
    full would cost the service and the log far more than the caller."""
    if len(value) <= limit:
        return repr(value) if quoted else value
    cut = value[:limit] + "…"
    return f"{repr(cut) if quoted else cut} ({len(value)} characters)"
