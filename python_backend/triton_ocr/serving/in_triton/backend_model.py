"""The ``TritonPythonModel`` of the python-based inference backends (``backends/<engine>/model.py``).

Triton runs a model whose config says ``backend: "onnxruntime"`` or ``backend: "openvino"`` with
``<backend-directory>/<backend>/model.py`` when no native backend of that name is installed (this project's CPU
machines); the NGC image's native backends serve the same configs. Each backend's ``model.py`` only picks its
runner class from :data:`triton_ocr.serving.in_triton.model_runner.RUNNERS` (or names it: the ``torch`` backend's
:class:`~triton_ocr.serving.in_triton.torch_runner.TorchRunner`). Runners get the instance's device (``cpu`` /
``gpu:N``) among their parameters, under :data:`~triton_ocr.serving.in_triton.torch_runner.INSTANCE_DEVICE`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from triton_ocr.serving.in_triton.adapter import error_response, model_parameters, request_inputs, tensors
from triton_ocr.serving.in_triton.model_runner import RUNNERS, ModelRunner
from triton_ocr.serving.in_triton.torch_runner import INSTANCE_DEVICE, instance_device


def backend_model(engine: str, runner_class: type[ModelRunner] | None = None) -> type:
    """The ``TritonPythonModel`` class serving standard ``engine`` configs (with ``runner_class``, default
    ``RUNNERS[engine]``)."""
    runner_class = runner_class or RUNNERS[engine]

    class InferenceBackendModel:
        def initialize(self, args: dict[str, str]) -> None:
            import triton_python_backend_utils

            self.pb = triton_python_backend_utils
            config = json.loads(args["model_config"])
            model_dir = Path(args["model_repository"])
            parameters = {**model_parameters(config), INSTANCE_DEVICE: instance_device(args)}
            self.runner = runner_class(config, parameters, model_dir, args["model_version"])

        def execute(self, requests: list[Any]) -> list[Any]:
            batch = [request_inputs(self.pb, request, self.runner.input_names) for request in requests]
            return [
                error_response(self.pb, result)
                if isinstance(result, Exception)
                else self.pb.InferenceResponse(output_tensors=tensors(self.pb, result))
                for result in self.runner.run(batch)
            ]

    InferenceBackendModel.__name__ = InferenceBackendModel.__qualname__ = f"{runner_class.__name__}Backend"
    return InferenceBackendModel
