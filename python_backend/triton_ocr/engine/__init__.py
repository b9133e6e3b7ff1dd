"""The inference-engine seam: every model call of the in-process pipeline goes through :class:`InferenceModel`."""

from triton_ocr.engine.base import InferenceModel, load_model

__all__ = ["InferenceModel", "load_model"]
