"""The runners behind the python-based inference backends ``onnxruntime`` and ``openvino``.

Each serves a standard Triton model config for its backend (the same file the NGC image's native backend serves)
with ``<version>/model.onnx`` (``default_model_filename`` where set). :class:`ModelRunner` does what both share —
the config's tensor names, and executing one Triton batch with as few engine runs as possible —; a subclass only
loads the model and runs one feed.

ONNX Runtime reads ``instance_group`` kind, ``optimization.execution_accelerators`` (TensorRT / CUDA, where this
ONNX Runtime build has them) and the native backend's ``intra_op_thread_count`` / ``inter_op_thread_count``.
OpenVINO reads the native OpenVINO backend's ``INFERENCE_NUM_THREADS``, ``NUM_STREAMS``, ``PERFORMANCE_HINT``,
``ENABLE_CPU_PINNING``, ``CPU_RUNTIME_CACHE_CAPACITY`` (the kernel cache; the plugin's property of that name) and
``HINT_BF16`` (``YES``: bfloat16; absent: fp32, pinned so that CPUs with bf16 units do not switch on their own).

Two parameters of this project's own, rendered from the pipeline config, bound what a run costs:
``max_item_elements`` (the most input elements one batch item may hold) and ``max_run_elements`` (the most one
engine run may hold: larger batches run in parts). OpenVINO allocates the buffers of ``max_run_elements``
at load and keeps them, so the model's memory is its working set from the start and does not follow the traffic.
A third, ``static_shapes``, gives the OpenVINO runner copies compiled for that many recurring input shapes
(:mod:`~triton_ocr.engine.static_shapes`; a bounded number, each with its own buffers).
"""

from __future__ import annotations

import logging
import math
import threading
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from triton_ocr.errors import InvalidModelInputError

if TYPE_CHECKING:
    from triton_ocr.engine.input_check import ShapeCheck

Inputs = dict[str, np.ndarray]

WARM_UP_STRIDE = 32
"""The open dims of a warm-up input are multiples of this (the detector's stride)."""

log = logging.getLogger(__name__)

TRITON_DTYPES = {
    "TYPE_FP32": np.float32,
    "TYPE_FP16": np.float16,
    "TYPE_INT64": np.int64,
    "TYPE_INT32": np.int32,
    "TYPE_UINT8": np.uint8,
    "TYPE_BOOL": np.bool_,
}


@dataclass(frozen=True)
class InputSpec:
    """One configured input: its dtype and dims (``-1``: any size), without the batch dimension."""

    dtype: np.dtype
    dims: tuple[int, ...]

    @classmethod
    def of(cls, spec: dict[str, Any]) -> InputSpec:
        """From the config's JSON (the stub's JSON gives int64 dims as strings)."""
        return cls(np.dtype(TRITON_DTYPES[spec["data_type"]]), tuple(int(d) for d in spec["dims"]))

    def check(self, model: str, name: str, array: np.ndarray, batched: bool) -> None:
        """InvalidModelInputError unless ``array`` has this dtype and these dims (after the batch dimension)."""
        if array.dtype != self.dtype:
            raise InvalidModelInputError(f"{model}: input {name!r} must be {self.dtype}, got {array.dtype}")
        dims = array.shape[1:] if batched else array.shape
        if len(dims) != len(self.dims) or any(want not in (-1, got) for want, got in zip(self.dims, dims)):
            expected = ["N", *self.dims] if batched else list(self.dims)
            raise InvalidModelInputError(
                f"{model}: input {name!r} must have shape {expected} (-1: any size), got {list(array.shape)}"
            )


class ModelRunner:
    """One loaded model; :meth:`run` executes the requests of one Triton batch."""

    def __init__(self, model_config: dict[str, Any], parameters: dict[str, str], model_dir: Path, version: str):
        self.path = model_dir / version / (model_config.get("default_model_filename") or "model.onnx")
        self.max_batch_size = int(model_config.get("max_batch_size", 0))
        self.batched = self.max_batch_size > 0
        self.input_names = [spec["name"] for spec in model_config["input"]]
        self.output_names = [spec["name"] for spec in model_config["output"]]
        self.input_specs = {spec["name"]: InputSpec.of(spec) for spec in model_config["input"]}
        self.model_name = model_config.get("name") or model_dir.name
        self.max_item_elements = int(parameters.get("max_item_elements", 0)) or None
        self.item_limit_setting = parameters.get("item_limit_setting", "")
        self.max_run_elements = int(parameters.get("max_run_elements", 0)) or None
        self.load(model_config, parameters)
        self.check_shapes = self.shape_check()

    def load(self, model_config: dict[str, Any], parameters: dict[str, str]) -> None:
        raise NotImplementedError

    def shape_check(self) -> ShapeCheck:
        """The model's shape inference (:class:`~triton_ocr.engine.input_check.ShapeCheck`), read from its file."""
        from triton_ocr.engine.input_check import ShapeCheck

        return ShapeCheck.of_file(self.path, self.model_name)

    def validate(self, inputs: Inputs) -> None:
        """InvalidModelInputError unless every configured input is there with its dtype, rank and fixed dims, each
        batch item within ``max_item_elements`` (the pipeline's own cost bound, from the config's parameters), and
        the model's shape inference can run the shapes (the engine never sees an input it cannot run)."""
        for name, spec in self.input_specs.items():
            if name not in inputs:
                raise InvalidModelInputError(f"{self.model_name}: input {name!r} is missing")
            spec.check(self.model_name, name, inputs[name], self.batched)
            item = inputs[name].shape[1:] if self.batched else inputs[name].shape
            if self.max_item_elements and math.prod(item) > self.max_item_elements:
                raise InvalidModelInputError(
                    f"{self.model_name}: input {name!r} of shape {list(inputs[name].shape)} holds "
                    f"{math.prod(item)} elements per item; the limit is {self.max_item_elements} (set by "
                    f"{self.item_limit_setting or 'the served config'})"
                )
        self.check_shapes({name: inputs[name].shape for name in self.input_names})

    def infer(self, feed: Inputs) -> list[np.ndarray]:
        """The outputs named in the config, in order, for one feed."""
        raise NotImplementedError

    def infer_in_parts(self, feed: Inputs) -> list[np.ndarray]:
        """:meth:`infer` on ``feed`` in runs of at most ``max_run_elements`` input elements (whole batch items, at
        least one per run), the outputs concatenated back along the batch axis."""
        items = len(feed[self.input_names[0]])
        per_item = sum(array[:1].size for array in feed.values())
        step = max(1, self.max_run_elements // max(per_item, 1)) if self.max_run_elements else items
        if step >= items:
            return self.infer(feed)
        parts = [self.infer({name: array[i : i + step] for name, array in feed.items()}) for i in range(0, items, step)]
        return [np.concatenate(outputs) for outputs in zip(*parts)]

    def largest_run(self) -> dict[str, tuple[int, ...]] | None:
        """The input shapes of the largest run this model is sent, for a single-input model with
        ``max_run_elements``: items of the largest size (``max_item_elements``; open dims equal multiples of
        :data:`WARM_UP_STRIDE`), as many as the run and the batch size hold. Otherwise ``None``."""
        if not self.max_run_elements or len(self.input_names) != 1:
            return None
        name = self.input_names[0]
        dims = self.input_specs[name].dims
        fixed, open_dims = math.prod(d for d in dims if d != -1), sum(d == -1 for d in dims)
        item_limit = min(self.max_item_elements or self.max_run_elements, self.max_run_elements)
        side = int((item_limit / fixed) ** (1 / max(open_dims, 1))) // WARM_UP_STRIDE * WARM_UP_STRIDE
        item = tuple(side if d == -1 else d for d in dims)
        if not self.batched:
            return {name: item}
        count = max(1, min(self.max_batch_size, self.max_run_elements // math.prod(item)))
        return {name: (count, *item)}

    def run(self, batch: list[Inputs]) -> list[Inputs | Exception]:
        """Requests' inputs → their outputs (or the exception of their run), in order. With batching, requests of
        equal shapes are concatenated along axis 0 (run in parts: :meth:`infer_in_parts`) and the outputs split back.
        A request whose inputs fail :meth:`validate` gets its InvalidModelInputError and never reaches the engine."""
        groups: dict[tuple, list[int]] = defaultdict(list)
        results: list[Inputs | Exception] = [{} for _ in batch]
        for index, inputs in enumerate(batch):
            try:
                self.validate(inputs)
            except InvalidModelInputError as exc:
                results[index] = exc
                continue
            key = tuple(inputs[name].shape[1:] for name in self.input_names) if self.batched else (index,)
            groups[key].append(index)
        for indices in groups.values():
            feed = {name: np.concatenate([batch[i][name] for i in indices]) for name in self.input_names}
            try:
                outputs = self.infer_in_parts(feed) if self.batched else self.infer(feed)
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


def execution_providers(model_config: dict[str, Any]) -> list[str]:
    """ONNX Runtime providers for the config's instance kind and accelerators, limited to the available ones."""
    import onnxruntime as ort

    wanted = ["CPUExecutionProvider"]
    if any(group.get("kind") == "KIND_GPU" for group in model_config.get("instance_group", [])):
        wanted.insert(0, "CUDAExecutionProvider")
        accelerators = model_config.get("optimization", {}).get("execution_accelerators", {})
        if any(acc.get("name") == "tensorrt" for acc in accelerators.get("gpu_execution_accelerator", [])):
            wanted.insert(0, "TensorrtExecutionProvider")
    available = set(ort.get_available_providers())
    return [provider for provider in wanted if provider in available]


class OnnxRuntimeRunner(ModelRunner):
    """An ONNX Runtime session with the engine's CPU serving options."""

    def load(self, model_config: dict[str, Any], parameters: dict[str, str]) -> None:
        import onnxruntime as ort

        from triton_ocr.engine.onnx_runtime import session_options

        options = session_options(
            int(parameters.get("intra_op_thread_count", 0)), int(parameters.get("inter_op_thread_count", 0))
        )
        self.session = ort.InferenceSession(str(self.path), options, providers=execution_providers(model_config))

    def infer(self, feed: Inputs) -> list[np.ndarray]:
        return self.session.run(self.output_names, feed)


def openvino_properties(parameters: dict[str, str]) -> dict[str, str]:
    """CPU plugin properties from the native OpenVINO backend's parameters (see the module docstring)."""
    from triton_ocr.engine.openvino_engine import SERVED_RUNTIME_CACHE_ENTRIES, compile_config, compiled_cache

    bf16 = parameters.get("HINT_BF16", "").strip().upper()
    if bf16 not in ("", "YES"):
        raise ValueError(f"HINT_BF16 must be YES or absent, got {parameters['HINT_BF16']!r}")
    threads = int(parameters.get("INFERENCE_NUM_THREADS", 0))
    kernel_cache = int(parameters.get("CPU_RUNTIME_CACHE_CAPACITY") or SERVED_RUNTIME_CACHE_ENTRIES)
    properties = compile_config(threads, "bf16" if bf16 else "fp32", compiled_cache(), kernel_cache)
    for key in ("NUM_STREAMS", "PERFORMANCE_HINT", "ENABLE_CPU_PINNING"):
        if parameters.get(key):
            properties[key] = parameters[key].upper()
    return properties


class OpenVINORunner(ModelRunner):
    """An OpenVINO model compiled for the CPU (compiled blobs cached on disk), recompiled after a failed run
    (:class:`~triton_ocr.engine.openvino_engine.CompiledModel`)."""

    def load(self, model_config: dict[str, Any], parameters: dict[str, str]) -> None:
        from triton_ocr.engine.openvino_engine import RELEASE_ABOVE_ELEMENTS, CompiledModel

        resident = self.max_run_elements or RELEASE_ABOVE_ELEMENTS
        static_shapes = int(parameters.get("static_shapes", 0))
        self.compiled = CompiledModel(
            self.path, openvino_properties(parameters), self.model_name, resident, static_shapes
        )
        self.warmed = threading.Event()
        shapes = self.largest_run()
        if shapes is None:
            self.warmed.set()
        else:
            name = f"{self.model_name}-warm-up"
            threading.Thread(target=self.warm_up, args=(shapes,), name=name, daemon=True).start()

    def warm_up(self, shapes: dict[str, tuple[int, ...]]) -> None:
        """Allocate the largest run's buffers (in the background: the model serves meanwhile)."""
        try:
            seconds = self.compiled.warm_up(shapes)
            log.info("%s: buffers for %s allocated in %.2f s", self.model_name, shapes, seconds)
        except Exception as exc:  # noqa: BLE001 - the model serves without it; its memory then follows the traffic
            log.warning("%s: warm-up on %s failed: %s", self.model_name, shapes, exc)
        finally:
            self.warmed.set()

    def shape_check(self) -> ShapeCheck:
        return self.compiled.check

    def infer(self, feed: Inputs) -> list[np.ndarray]:
        contiguous = {name: np.ascontiguousarray(array) for name, array in feed.items()}
        return self.compiled.run(contiguous, self.output_names)


RUNNERS: dict[str, type[ModelRunner]] = {"onnxruntime": OnnxRuntimeRunner, "openvino": OpenVINORunner}
