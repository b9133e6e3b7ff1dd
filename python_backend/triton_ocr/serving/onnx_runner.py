"""The generic runner behind the python-based ``onnxruntime`` backend: it serves a standard Triton ONNX Runtime
model config (the same file the NGC image's native backend serves) with ``1/model.onnx``.

Understood config fields: ``input``/``output`` names, ``max_batch_size``, ``default_model_filename``,
``instance_group`` kind, ``optimization.execution_accelerators`` (TensorRT / CUDA, where this ONNX Runtime build has
them) and the native backend's ``intra_op_thread_count`` / ``inter_op_thread_count`` parameters.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from triton_ocr.engine.onnx_runtime import session_options

Inputs = dict[str, np.ndarray]


def execution_providers(model_config: dict[str, Any]) -> list[str]:
    """ONNX Runtime providers for the config's instance kind and accelerators, limited to the available ones."""
    wanted = ["CPUExecutionProvider"]
    if any(group.get("kind") == "KIND_GPU" for group in model_config.get("instance_group", [])):
        wanted.insert(0, "CUDAExecutionProvider")
        accelerators = model_config.get("optimization", {}).get("execution_accelerators", {})
        if any(acc.get("name") == "tensorrt" for acc in accelerators.get("gpu_execution_accelerator", [])):
            wanted.insert(0, "TensorrtExecutionProvider")
    available = set(ort.get_available_providers())
    return [provider for provider in wanted if provider in available]


class OnnxRunner:
    """One ONNX Runtime session; :meth:`run` executes the requests of one Triton batch with as few runs as possible."""

    def __init__(self, model_config: dict[str, Any], parameters: dict[str, str], model_dir: Path, version: str):
        path = model_dir / version / (model_config.get("default_model_filename") or "model.onnx")
        options = session_options(
            int(parameters.get("intra_op_thread_count", 0)), int(parameters.get("inter_op_thread_count", 0))
        )
        self.session = ort.InferenceSession(str(path), options, providers=execution_providers(model_config))
        self.batched = model_config.get("max_batch_size", 0) > 0
        self.input_names = [spec["name"] for spec in model_config["input"]]
        self.output_names = [spec["name"] for spec in model_config["output"]]

    def run(self, batch: list[Inputs]) -> list[Inputs | Exception]:
        """Requests' inputs → their outputs (or the exception of their run), in order. With batching, requests of
        equal shapes are concatenated along axis 0 into one run and the outputs split back."""
        groups: dict[tuple, list[int]] = defaultdict(list)
        for index, inputs in enumerate(batch):
            key = tuple(inputs[name].shape[1:] for name in self.input_names) if self.batched else (index,)
            groups[key].append(index)
        results: list[Inputs | Exception] = [{} for _ in batch]
        for indices in groups.values():
            feed = {name: np.concatenate([batch[i][name] for i in indices]) for name in self.input_names}
            try:
                outputs = self.session.run(self.output_names, feed)
            except Exception as exc:  # noqa: BLE001 - the group's requests fail, the others go on
                for index in indices:
                    results[index] = exc
                continue
            sizes = [len(batch[i][self.input_names[0]]) for i in indices]
            for position, index in enumerate(indices):
                start = sum(sizes[:position])
                results[index] = {
                    name: output[start : start + sizes[position]] if self.batched else output
                    for name, output in zip(self.output_names, outputs)
                }
        return results
