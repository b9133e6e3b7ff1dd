"""Triton python-backend glue shared by the python models of the repository.

A repository ``model.py`` only names its adapter class here (``TritonPythonModel = DetPreprocessModel``). The base
class reads the model config once, turns each request into a ``{name: numpy array}`` dict, awaits the step on it and
turns each request's failure into that request's own error response, so bad input never fails the batch or kills
the stub. ``triton_python_backend_utils`` exists only inside the stub: it is imported in ``initialize``.
"""

from __future__ import annotations

import asyncio
import json
import traceback
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from triton_ocr.config import OCRConfig
from triton_ocr.errors import OCRError
from triton_ocr.serving.in_triton.bodies import DetPreprocess, OCRPostprocess, Tensors
from triton_ocr.stages import LineModels, ModelCall

Step = Callable[[Tensors], Awaitable[dict[str, np.ndarray]]]


class TritonCallError(Exception):
    """A BLS call returned an error; ``code`` is the callee's ``TritonError`` code, passed on to the caller."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def model_parameters(model_config: dict[str, Any]) -> dict[str, str]:
    """The ``parameters`` map of a model config (as the stub hands it over, JSON-decoded) as plain strings."""
    return {key: value["string_value"] for key, value in model_config.get("parameters", {}).items()}


def pipeline_config(parameters: dict[str, str]) -> OCRConfig:
    """The :class:`OCRConfig` the repository renderer stored in the ``ocr_config`` parameter."""
    return OCRConfig.model_validate_json(parameters["ocr_config"])


def request_inputs(pb: ModuleType, request: Any, names: Iterable[str]) -> dict[str, np.ndarray]:
    """The request's tensors among ``names`` as numpy arrays; optional inputs the request lacks are left out."""
    inputs = {}
    for name in names:
        tensor = pb.get_input_tensor_by_name(request, name)
        if tensor is not None:
            inputs[name] = tensor.as_numpy()
    return inputs


def tensors(pb: ModuleType, arrays: dict[str, np.ndarray]) -> list[Any]:
    return [pb.Tensor(name, np.ascontiguousarray(array)) for name, array in arrays.items()]


def error_response(pb: ModuleType, exc: BaseException) -> Any:
    """One request's failure: INVALID_ARG for bad input or parameters, the callee's code for a failed BLS call,
    INTERNAL (logged with its traceback) for anything else."""
    if isinstance(exc, TritonCallError):
        return pb.InferenceResponse(error=pb.TritonError(str(exc), exc.code))
    if isinstance(exc, OCRError) and isinstance(exc, ValueError):
        return pb.InferenceResponse(error=pb.TritonError(str(exc), pb.TritonError.INVALID_ARG))
    pb.Logger.log_error("".join(traceback.format_exception(exc)))
    return pb.InferenceResponse(error=pb.TritonError(f"{type(exc).__name__}: {exc}", pb.TritonError.INTERNAL))


class PythonModel:
    """Base of the python models: subclasses build their step in :meth:`build`."""

    pb: ModuleType
    step: Step

    def initialize(self, args: dict[str, str]) -> None:
        import triton_python_backend_utils

        self.pb = triton_python_backend_utils
        model_config = json.loads(args["model_config"])
        self.input_names = [spec["name"] for spec in model_config["input"]]
        self.step = self.build(model_parameters(model_config), Path(args["model_repository"]))

    def build(self, parameters: dict[str, str], model_dir: Path) -> Step:
        raise NotImplementedError

    async def execute(self, requests: list[Any]) -> list[Any]:
        return list(await asyncio.gather(*(self.respond(request) for request in requests)))

    async def respond(self, request: Any) -> Any:
        try:
            outputs = await self.step(request_inputs(self.pb, request, self.input_names))
            return self.pb.InferenceResponse(output_tensors=tensors(self.pb, outputs))
        except Exception as exc:  # noqa: BLE001 - every failure becomes this request's error response
            return error_response(self.pb, exc)

    async def infer(self, model: str, inputs: dict[str, np.ndarray], outputs: Sequence[str]) -> list[np.ndarray]:
        """One BLS call to ``model`` — a new request object per call — returning its ``outputs``."""
        request = self.pb.InferenceRequest(
            model_name=model, inputs=tensors(self.pb, inputs), requested_output_names=list(outputs)
        )
        response = await request.async_exec()
        if response.has_error():
            raise TritonCallError(response.error().message(), response.error().code())
        return [self.pb.get_output_tensor_by_name(response, name).as_numpy() for name in outputs]


    def model_call(self, parameters: dict[str, str], role: str) -> ModelCall | None:
        """BLS calls to the model of the ``<role>_model`` / ``<role>_input`` / ``<role>_outputs`` (comma-separated)
        parameters; ``None`` where the repository does not serve one."""
        if f"{role}_model" not in parameters:
            return None
        model, input_name = parameters[f"{role}_model"], parameters[f"{role}_input"]
        outputs = parameters[f"{role}_outputs"].split(",")

        async def call(batch: np.ndarray) -> list[np.ndarray]:
            return await self.infer(model, {input_name: batch}, outputs)

        return call


class DetPreprocessModel(PythonModel):
    """``det_preprocess``: see :class:`~triton_ocr.serving.in_triton.bodies.DetPreprocess`; the page classifier
    (when the repository has it) runs as BLS calls to ``page_model``."""

    def build(self, parameters: dict[str, str], model_dir: Path) -> Step:
        config = pipeline_config(parameters)
        return DetPreprocess(config, int(parameters["det_size_multiple"]), self.model_call(parameters, "page"))


class OCRPostprocessModel(PythonModel):
    """``ocr_postprocess``: see :class:`~triton_ocr.serving.in_triton.bodies.OCRPostprocess`; recognition runs as
    BLS calls to the model named by the ``rec_model`` parameter, whose folder also holds the charset, and
    orientation (when the repository has it) as BLS calls to ``cls_model``."""

    def build(self, parameters: dict[str, str], model_dir: Path) -> Step:
        config = pipeline_config(parameters)
        rec_dir = model_dir.parent / parameters["rec_model"] / "1"
        recognise = self.model_call(parameters, "rec")
        assert recognise is not None, "every repository serves a recogniser"
        models = LineModels(
            recognise=recognise,
            charset=OCRPostprocess.charset_of(rec_dir, config.text_rec.use_space_char),
            classify=self.model_call(parameters, "cls"),
            max_inflight=int(parameters["rec_max_inflight"]),
        )
        return OCRPostprocess(config, models)
