"""What an inference engine must provide, and the factory that picks one by configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from triton_ocr.config import RuntimeConfig
from triton_ocr.errors import ConfigError


class InferenceModel(Protocol):
    """One loaded model with a single input (float32; the detector's uint8 pixels) and a single output."""

    input_name: str
    output_name: str

    def __call__(self, tensor: np.ndarray) -> np.ndarray:
        """Run the model on a batch ``tensor`` (N, ...) and return its output (N, ...)."""

    def metadata(self) -> dict[str, str]:
        """The model file's custom metadata (e.g. the recognition charset under ``character``)."""


def load_model(path: Path, runtime: RuntimeConfig, streams: int = 1, static_shapes: int = 0) -> InferenceModel:
    """Load the ONNX model at ``path`` with the engine named in ``runtime`` on ``runtime.device`` (a GPU: torch
    only); ``streams`` > 1 (OpenVINO only): that many calls from different threads run at once; ``static_shapes``
    (OpenVINO only; others ignore it): copies compiled for that many recurring input shapes
    (:mod:`~triton_ocr.engine.static_shapes`)."""
    if streams > 1 and runtime.engine != "openvino":
        raise ConfigError(f"{runtime.engine} runs one stream per model, not {streams}")
    if runtime.engine == "torch":
        from triton_ocr.engine.torch_engine import TorchModel

        return TorchModel(path, runtime.device, runtime.precision, threads=runtime.intra_op_threads)
    if runtime.device != "cpu":
        raise ConfigError(
            f"runtime.device {runtime.device!r} needs the torch engine (runtime.engine: torch); "
            f"{runtime.engine} runs on the CPU only"
        )
    if runtime.precision == "fp16":
        raise ConfigError(f"precision fp16 needs the torch engine; {runtime.engine} runs fp32 or bf16")
    if runtime.engine == "onnxruntime":
        from triton_ocr.engine.onnx_runtime import OnnxRuntimeModel

        return OnnxRuntimeModel(path, intra_op_threads=runtime.intra_op_threads, inter_op_threads=runtime.inter_op_threads)
    if runtime.engine == "openvino":
        from triton_ocr.engine.openvino_engine import OpenVINOModel

        return OpenVINOModel(
            path, threads=runtime.intra_op_threads, precision=runtime.precision, streams=streams,
            static_shapes=static_shapes,
        )
    raise ValueError(f"unknown inference engine {runtime.engine!r}")
