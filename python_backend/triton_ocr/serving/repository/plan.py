"""The serving plan: every effective setting of one repository, computed once.

A repository serves one or more model sets side by side, each in a *lane* of its own models: the pipeline config's
set is the primary lane (models named as in :mod:`triton_ocr.contract`, entries ``ocr``/``ocr_raw``), every other
set a lane whose models carry its name (``text_det.PP-OCRv5_mobile``, ``ocr.PP-OCRv5_mobile``, see
:func:`triton_ocr.contract.lane_model`); every lane, the primary one too, answers at ``ocr.<set>``. The orientation
classifiers are served whenever installed (a request turns them on), once: a lane whose classifier is the primary
lane's, with the same settings, calls the primary lane's.

:func:`plan_serving` takes the user's pipeline config, a serving profile and the sets to serve; for each lane it
fills the profile's pipeline defaults into the fields the user left unset, resolves (and converts) the models,
applies their ``inference.yml`` settings and reads their tensor names. The render, the weights and the server's
supervisor all read the same plan.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from triton_ocr import contract
from triton_ocr.config import OCRConfig
from triton_ocr.models.model_sets import model_set
from triton_ocr.models.registry import ModelFiles, installed_model_sets, resolve_pipeline_models
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
    """One lane: the effective pipeline config of a model set, the profile, and the served inference models' files
    and tensor names (by catalog model name; an inference model the pipeline does not use is absent)."""

    config: OCRConfig
    profile: ServingProfile
    files: Mapping[str, ModelFiles]
    """The inference models this lane serves itself."""
    io: Mapping[str, OnnxIO]
    """The tensor names of every inference model this lane calls: its own and the borrowed ones."""
    primary: bool = True
    borrowed: frozenset[str] = frozenset()
    """Inference models this lane calls in the primary lane (the shared classifiers)."""

    @property
    def model_set(self) -> str:
        return self.config.model_set

    def name(self, model: str) -> str:
        """The Triton name of the catalog model ``model`` as this lane calls it."""
        return model if self.primary or model in self.borrowed else contract.lane_model(model, self.model_set)

    @cached_property
    def config_json(self) -> str:
        """The config as the python models receive it (their ``ocr_config`` parameter)."""
        return json.dumps(self.config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    @property
    def models(self) -> tuple[TritonModel, ...]:
        """The catalog's models this lane serves, in render order."""
        return tuple(m for m in CATALOG if not isinstance(m, InferenceModel) or m.name in self.files)


@dataclass(frozen=True)
class RepositoryPlan:
    """The lanes of one repository, the primary one first."""

    lanes: tuple[ServingPlan, ...]

    @property
    def primary(self) -> ServingPlan:
        return self.lanes[0]

    @property
    def config(self) -> OCRConfig:
        """The primary lane's effective config: what ``ocr`` and ``ocr_raw`` answer with."""
        return self.primary.config

    @property
    def profile(self) -> ServingProfile:
        return self.primary.profile

    @property
    def model_sets(self) -> tuple[str, ...]:
        return tuple(lane.model_set for lane in self.lanes)

    def rendered(self) -> Iterator[tuple[str, TritonModel, ServingPlan]]:
        """Every Triton model of the repository: its name, its catalog declaration and its lane."""
        for lane in self.lanes:
            for model in lane.models:
                for name in model.names(lane):
                    yield name, model, lane

    @property
    def reloadable(self) -> tuple[str, ...]:
        """Models with instances of their own (everything but the ensembles): what a heal may reload."""
        return tuple(name for name, model, _ in self.rendered() if not isinstance(model, EnsembleModel))

    @property
    def probes(self) -> tuple[tuple[str, contract.Entry], ...]:
        """The entries a health probe calls: both of the primary lane, one of each other lane (it runs all of
        that lane's models)."""
        others = tuple((lane.name(contract.OCR), contract.OCR_ENTRY) for lane in self.lanes[1:])
        return (*((entry.name, entry) for entry in contract.ENTRIES), *others)

    @property
    def files(self) -> dict[str, ModelFiles]:
        """The served inference models' files, by Triton model name."""
        return {lane.name(name): files for lane in self.lanes for name, files in lane.files.items()}


CLASSIFIERS = {contract.TEXTLINE_ORIENTATION: "textline_orientation", contract.DOC_ORIENTATION: "doc_orientation"}
"""The classifiers lanes share, with the config section of their settings."""


def plan_lane(config: OCRConfig, profile: ServingProfile, primary: ServingPlan | None = None) -> ServingPlan:
    """Resolve one lane of ``config`` served with ``profile``; ``primary``: the primary lane, whose classifiers
    this lane calls where they are the same models with the same settings (``None``: this is the primary)."""
    resolved = resolve_pipeline_models(with_profile_defaults(config, profile), optional_classifiers=True)
    files = {model.name: found for model in INFERENCE_MODELS if (found := model.files(resolved)) is not None}
    borrowed = frozenset(
        name for name, section in CLASSIFIERS.items()
        if primary is not None and name in files and primary.files.get(name) == files[name]
        and getattr(primary.config, section) == getattr(resolved.config, section)
    )
    own = {name: found for name, found in files.items() if name not in borrowed}
    io = {name: OnnxIO.of(found.onnx_path) for name, found in own.items()}  # borrowed: read once, in the primary
    io |= {name: primary.io[name] for name in borrowed if primary is not None}
    return ServingPlan(resolved.config, profile, own, io, primary is None, borrowed)


def plan_serving(
    config: OCRConfig, profile: ServingProfile, model_sets: Sequence[str] | None = ()
) -> RepositoryPlan:
    """Plan a repository serving ``config`` (its model set is the primary lane) and the ``model_sets`` beside it;
    ``None``: every installed set. Each other lane reads with its set's models and ``config``'s other settings
    (:meth:`OCRConfig.for_model_set`)."""
    wanted = installed_model_sets() if model_sets is None else list(model_sets)
    for name in wanted:
        model_set(name)  # an unknown name fails here, naming the known ones
    others = [name for name in dict.fromkeys(wanted) if name != config.model_set]
    primary = plan_lane(config, profile)
    lanes = [primary, *(plan_lane(config.for_model_set(name), profile, primary) for name in others)]
    return RepositoryPlan(tuple(lanes))
