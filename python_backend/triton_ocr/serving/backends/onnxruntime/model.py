"""Python-based Triton backend ``onnxruntime``: serves standard ONNX Runtime model configs with ``1/model.onnx``.

The launcher copies this file to ``<backend-directory>/onnxruntime/model.py``; the NGC Triton image uses its native
ONNX Runtime backend for the same configs instead. The work is done by :class:`triton_ocr.serving.onnx_runner.OnnxRunner`.
"""

import json
from pathlib import Path

import triton_python_backend_utils as pb_utils

from triton_ocr.serving.adapter import error_response, model_parameters, request_inputs, tensors
from triton_ocr.serving.onnx_runner import OnnxRunner


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        self.runner = OnnxRunner(config, model_parameters(config), Path(args["model_repository"]), args["model_version"])

    def execute(self, requests: list) -> list:
        batch = [request_inputs(pb_utils, request, self.runner.input_names) for request in requests]
        return [
            error_response(pb_utils, result)
            if isinstance(result, Exception)
            else pb_utils.InferenceResponse(output_tensors=tensors(pb_utils, result))
            for result in self.runner.run(batch)
        ]
