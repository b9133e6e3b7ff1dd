"""The runner behind the python-based ``torch`` backend: the ONNX file converted and run by PyTorch on the instance's
device (:class:`~triton_ocr.engine.torch_engine.TorchModel`).

The ``gpu`` profile serves ``text_det`` / ``text_rec`` / ``textline_orientation`` with it on the pip Triton, whose
GPU machines here have PyTorch but neither ``onnxruntime-gpu`` nor TensorRT (docs/gpu.md). Parameters (rendered
from the pipeline's ``runtime`` and the profile, :func:`torch_parameters`): ``precision`` (fp32 / fp16 / bf16),
``cuda_graphs`` (yes / no), ``max_graphs`` and ``intra_op_thread_count`` (CPU instances). The device is the
instance's: ``KIND_GPU`` instance ``gpus: [N]`` → ``gpu:N``, ``KIND_CPU`` → ``cpu``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from triton_ocr.errors import ConfigError, InvalidModelInputError
from triton_ocr.serving.in_triton.model_runner import Inputs, ModelRunner

INSTANCE_DEVICE = "instance_device"
"""Key under which the backend model hands a runner its instance's device (``cpu`` / ``gpu:N``)."""
SWITCHES = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}


def instance_device(args: dict[str, str]) -> str:
    """The device of the Triton model instance described by the python backend's ``initialize`` ``args``."""
    if args.get("model_instance_kind", "CPU").upper() == "GPU":
        return f"gpu:{int(args.get('model_instance_device_id', 0))}"
    return "cpu"


def torch_parameters(precision: str, cuda_graphs: bool, threads: int, max_graphs: int = 128) -> dict[str, Any]:
    """The ``torch`` backend's config parameters (what :class:`TorchRunner` reads)."""
    return {
        "precision": precision,
        "cuda_graphs": "yes" if cuda_graphs else "no",
        "max_graphs": max_graphs,
        "intra_op_thread_count": threads,
    }


def switch(parameters: dict[str, str], name: str, default: str) -> bool:
    value = parameters.get(name, default).strip().lower()
    if value not in SWITCHES:
        raise ConfigError(f"parameter {name} must be yes or no, got {parameters[name]!r}")
    return SWITCHES[value]


def positive_dims(shapes: dict[str, tuple[int, ...]]) -> None:
    """InvalidModelInputError for an empty dimension (PyTorch raises cleanly on shapes a model cannot run, and a
    failed forward leaves no state behind, so no deeper check is needed)."""
    for name, shape in shapes.items():
        if any(int(d) < 1 for d in shape):
            raise InvalidModelInputError(f"input {name!r} shape {list(shape)}: every dimension must be at least 1")


class TorchRunner(ModelRunner):
    """A :class:`~triton_ocr.engine.torch_engine.TorchModel` on the instance's device."""

    def load(self, model_config: dict[str, Any], parameters: dict[str, str]) -> None:
        from triton_ocr.engine.torch_engine import TorchModel

        self.model = TorchModel(
            self.path,
            parameters.get(INSTANCE_DEVICE, "cpu"),
            parameters.get("precision", "fp32"),
            cuda_graphs=switch(parameters, "cuda_graphs", "yes"),
            max_graphs=int(parameters.get("max_graphs", 128)),
            threads=int(parameters.get("intra_op_thread_count", 0)),
            setting=f"{model_config.get('name', self.path.parent.parent.name)} instance_group",
        )
        if len(self.input_names) != 1 or self.input_names[0] != self.model.input_name:
            raise ConfigError(f"{self.path}: the config's inputs {self.input_names} are not the model's "
                              f"{[self.model.input_name]}")
        missing = set(self.output_names) - set(self.model.output_names)
        if missing:
            raise ConfigError(f"{self.path}: the model has no outputs {sorted(missing)}")

    def shape_check(self) -> Any:
        """:func:`positive_dims`: no OpenVINO shape inference (the GPU machines have no OpenVINO, and PyTorch
        fails a shape it cannot run cleanly, for that request group alone)."""
        return positive_dims

    def infer(self, feed: Inputs) -> list[np.ndarray]:
        outputs = dict(zip(self.model.output_names, self.model.run(feed[self.input_names[0]])))
        return [outputs[name] for name in self.output_names]
