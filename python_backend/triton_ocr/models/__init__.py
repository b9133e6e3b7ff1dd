"""Model registry, offline fetching, Paddle conversion, export settings and recognition charsets."""

from triton_ocr.models.cache import model_home
from triton_ocr.models.registry import (
    ModelFiles,
    PipelineModels,
    installed_models,
    resolve_model,
    resolve_pipeline_models,
)

__all__ = ["ModelFiles", "PipelineModels", "installed_models", "model_home", "resolve_model", "resolve_pipeline_models"]
