"""The serving plan: every effective setting of one repository, computed once.

:func:`plan_serving` takes the user's pipeline config and a serving profile, fills the profile's pipeline defaults
into the fields the user left unset, resolves (and converts) the models, applies their ``inference.yml`` settings
and reads their tensor names. The render, the weights and the server's supervisor all read the same plan.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from triton_ocr.config import OCRConfig
from triton_ocr.models.registry import ModelFiles, resolve_pipeline_models
from triton_ocr.serving.repository.catalog import CATALOG, INFERENCE_MODELS, EnsembleModel, InferenceModel, TritonModel
from triton_ocr.serving.repository.profiles import ServingProfile, with_profile_defaults


@dataclass(frozen=True)
class OnnxIO:
    """The input and output tensor names of a single-input, single-output ONNX model."""

    input: str
    output: str

    @classmethod
    def of(cls, path: Path) -> OnnxIO:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return cls(session.get_inputs()[0].name, session.get_outputs()[0].name)


@dataclass(frozen=True)
class ServingPlan:
    """The effective pipeline config, the profile, and the served inference models' files and tensor names (by
    Triton model name; an inference model the pipeline does not use is absent)."""

    config: OCRConfig
    profile: ServingProfile
    files: Mapping[str, ModelFiles]
    io: Mapping[str, OnnxIO]

    @cached_property
    def config_json(self) -> str:
        """The config as the python models receive it (their ``ocr_config`` parameter)."""
        return json.dumps(self.config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    @property
    def models(self) -> tuple[TritonModel, ...]:
        """The catalog's models this repository serves, in render order."""
        return tuple(m for m in CATALOG if not isinstance(m, InferenceModel) or m.name in self.files)

    @property
    def reloadable(self) -> tuple[str, ...]:
        """Models with instances of their own (everything but the ensembles): what a heal may reload."""
        return tuple(m.name for m in self.models if not isinstance(m, EnsembleModel))


def plan_serving(config: OCRConfig, profile: ServingProfile) -> ServingPlan:
    """Resolve everything the repository needs for ``config`` served with ``profile`` (see the module doc)."""
    resolved = resolve_pipeline_models(with_profile_defaults(config, profile))
    files = {model.name: found for model in INFERENCE_MODELS if (found := model.files(resolved)) is not None}
    io = {name: OnnxIO.of(model.onnx_path) for name, model in files.items()}
    return ServingPlan(resolved.config, profile, files, io)
