"""Serving profiles: how the repository's models are run, per deployment flavour (``cpu``, ``gpu``).

Pipeline parameters (thresholds, sizes, model names, the inference engine and its precision) live in
:class:`triton_ocr.config.OCRConfig`; a profile says how the models run — the instance kind, each model's serving
settings (declared with the model in :mod:`~triton_ocr.serving.repository.catalog`) — and which pipeline defaults
suit it (``pipeline_defaults``: the GPU's larger, width-bucketed recognition chunks and the torch engine).
Those fill only fields the user's pipeline config leaves unset (:func:`with_profile_defaults`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from triton_ocr.config import OCRConfig
from triton_ocr.errors import ConfigError
from triton_ocr.serving.repository.catalog import INFERENCE_MODELS, PYTHON_MODELS
from triton_ocr.serving.repository.settings import BatchedModel, PythonStep

class ServingProfile(BaseModel):
    """Everything about running the models that is not a pipeline parameter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: Literal["KIND_CPU", "KIND_GPU"] = "KIND_CPU"
    python_models: dict[str, PythonStep]
    inference_models: dict[str, BatchedModel]
    det_size_multiple: int = Field(
        32, ge=32, description="detector inputs are zero-padded up to a multiple of this (shape buckets); 32 = none"
    )
    rec_max_inflight: int = Field(
        16, ge=1, description="recognition calls one image keeps in flight at once (bounds memory for 2000 lines)"
    )
    execution_accelerators: dict[str, list[dict[str, Any]]] = Field(
        default_factory=dict, description="ONNX Runtime optimization.execution_accelerators block (GPU)"
    )
    pipeline_defaults: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="OCRConfig fields this flavour sets where the pipeline config does not"
    )

    def model_settings(self, model: str) -> PythonStep | BatchedModel:
        """The serving settings of ``model``."""
        settings = self.python_models.get(model) or self.inference_models.get(model)
        if settings is None:
            raise ConfigError(f"profile {self.name!r} has no settings for model {model!r}")
        return settings


def declared_profile(name: str, **fields: Any) -> ServingProfile:
    """A profile whose per-model settings are the catalog's declarations for ``name``."""
    return ServingProfile(
        name=name,
        python_models={model.name: model.serving[name] for model in PYTHON_MODELS},
        inference_models={model.name: model.serving[name] for model in INFERENCE_MODELS},
        **fields,
    )


GPU_PIPELINE_DEFAULTS: dict[str, dict[str, Any]] = {
    "text_rec": {"batch_size": 32, "width_step": 160},
    "textline_orientation": {"batch_size": 32},
    "runtime": {"engine": "torch", "precision": "fp16", "device": "gpu"},
}
"""The ``gpu`` profile's pipeline defaults: recognition chunks of 32 lines whose widths are rounded up to 160-px
buckets (chunks of different images then share shapes, so Triton merges them into one batch), and the torch engine
in fp16 (the pip Triton's python-based ``torch`` backend; on the NGC image set ``runtime.engine: onnxruntime`` for
its native ONNX Runtime backend with TensorRT, docs/gpu.md)."""

PROFILES: dict[str, ServingProfile] = {
    "cpu": declared_profile("cpu"),
    "gpu": declared_profile(
        "gpu",
        kind="KIND_GPU",
        det_size_multiple=128,
        rec_max_inflight=32,
        execution_accelerators={
            "gpu_execution_accelerator": [
                {
                    "name": "tensorrt",
                    "parameters": {"precision_mode": "FP16", "max_workspace_size_bytes": "1073741824"},
                }
            ]
        },
        pipeline_defaults=GPU_PIPELINE_DEFAULTS,
    ),
}


def get_profile(name: str) -> ServingProfile:
    """The named profile (``cpu`` or ``gpu``)."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(f"unknown serving profile {name!r}: use one of {', '.join(PROFILES)}") from None


def with_profile_defaults(config: OCRConfig, profile: ServingProfile) -> OCRConfig:
    """``config`` with the profile's pipeline defaults in the fields it leaves unset. A field the pipeline config
    sets keeps its value; where that differs from the profile's, a warning says so."""
    for section, values in profile.pipeline_defaults.items():
        config = config.with_defaults(section, values, f"the {profile.name!r} profile")
    return config
