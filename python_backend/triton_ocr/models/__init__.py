"""Model registry, offline fetching and recognition charsets."""

from triton_ocr.models.registry import ModelFiles, installed_models, model_home, resolve_model

__all__ = ["ModelFiles", "installed_models", "model_home", "resolve_model"]
