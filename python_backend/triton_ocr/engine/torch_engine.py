"""PyTorch engine: the same ONNX files converted with onnx2torch, on the CPU or a CUDA GPU (the ``torch`` extra).

Why it exists: the GPU machines this project can use have PyTorch with CUDA but neither ``onnxruntime-gpu`` nor
TensorRT, so the ``gpu`` serving profile on the pip Triton runs its models here (docs/gpu.md).

* Device: ``runtime.device`` / ``--device`` — ``cpu``, ``gpu`` (= ``gpu:0``) or ``gpu:N``; a GPU that is not there
  is a :class:`~triton_ocr.errors.DeviceUnavailableError` naming the setting (:func:`torch_device`).
* Precision: ``fp32`` (TF32 off: the same numbers as ONNX Runtime to ~1e-4), ``fp16`` or ``bf16``, after
  Conv+BatchNorm folding in fp32 (:mod:`triton_ocr.engine.onnx_to_torch`). fp32 fallback: a low-precision call
  whose float outputs are not all finite is run again in fp32 (logged once per model).
* CUDA graphs (GPU only): each input shape is run eagerly once (cuDNN picks its kernels), then captured in a CUDA
  graph and replayed — the converted graphs call 300–450 small modules per forward, so eager PyTorch is bound by
  Python dispatch at small batches (docs/gpu.md: rec batch 6 6.7 → 1.5 ms). The batch axis is padded up to a
  power of two (rows are independent in these models), so one graph serves every batch size of a bucket; at most
  ``max_graphs`` graphs are kept (least recently used dropped), all in one memory pool.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from triton_ocr.engine.onnx_to_torch import TORCH_EXTRA_HINT, convert, place
from triton_ocr.errors import ConfigError, DeviceUnavailableError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

DEVICE_PATTERN = re.compile(r"cpu|gpu(?::(\d+))?")
DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def import_torch() -> Any:
    """``torch``, or a ConfigError that says how to install it."""
    try:
        import torch
    except ModuleNotFoundError as exc:
        raise ConfigError(f"the torch engine needs PyTorch: {TORCH_EXTRA_HINT}") from exc
    return torch


def torch_device(spec: str, setting: str = "runtime.device") -> torch.device:
    """``cpu`` / ``gpu`` / ``gpu:N`` → a ``torch.device``; raises DeviceUnavailableError, naming ``setting``, where
    that GPU is not visible to this PyTorch."""
    match = DEVICE_PATTERN.fullmatch(spec.strip().lower())
    if match is None:
        raise ConfigError(f"{setting} {spec!r}: use cpu, gpu or gpu:N")
    torch = import_torch()
    if spec.strip().lower() == "cpu":
        return torch.device("cpu")
    index = int(match.group(1) or 0)
    if not torch.cuda.is_available():
        built = f"built with CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise DeviceUnavailableError(
            f"{setting} {spec!r}: no CUDA GPU is visible to PyTorch {torch.__version__} ({built}); use cpu"
        )
    count = torch.cuda.device_count()
    if index >= count:
        raise DeviceUnavailableError(
            f"{setting} {spec!r}: this machine has {count} CUDA GPU{'s' if count > 1 else ''} "
            f"(gpu:0{f' to gpu:{count - 1}' if count > 1 else ''})"
        )
    return torch.device("cuda", index)


def batch_bucket(size: int) -> int:
    """The power of two ≥ ``size``: CUDA-graph batch buckets."""
    return 1 << max(0, size - 1).bit_length()


def onnx_signature(path: Path) -> tuple[list[str], list[str], dict[str, str]]:
    """Input names, output names and custom metadata of the ONNX file at ``path`` (weights not loaded)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    initializers = {init.name for init in model.graph.initializer}
    inputs = [value.name for value in model.graph.input if value.name not in initializers]
    outputs = [value.name for value in model.graph.output]
    return inputs, outputs, {prop.key: prop.value for prop in model.metadata_props}


class GraphCache:
    """CUDA graphs of one module, one per input shape, least recently used dropped beyond ``capacity``."""

    def __init__(self, module: torch.nn.Module, capacity: int) -> None:
        torch = import_torch()
        self.module = module
        self.capacity = capacity
        self.pool = torch.cuda.graph_pool_handle()
        self.graphs: OrderedDict[tuple, tuple[Any, torch.Tensor, list[torch.Tensor]]] = OrderedDict()
        self.seen: set[tuple] = set()
        self.eager: set[tuple] = set()

    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Run ``x`` (on the module's device and dtype): eagerly the first time its shape is seen, replayed from a
        captured graph after. The outputs are the graph's static buffers: read them before the next call."""
        key = (tuple(x.shape), x.dtype)
        entry = self.graphs.get(key)
        if entry is None:
            if key not in self.seen:
                self.seen.add(key)
                return as_list(self.module(x))
            if key in self.eager:
                return as_list(self.module(x))
            try:
                entry = self.capture(x)
            except RuntimeError as exc:  # an op that cannot be captured: this shape stays eager
                log.warning("CUDA graph capture failed for input %s (%s); running it eagerly", key[0], exc)
                self.eager.add(key)
                return as_list(self.module(x))
            self.graphs[key] = entry
            while len(self.graphs) > self.capacity:
                self.graphs.popitem(last=False)
        self.graphs.move_to_end(key)
        graph, static_input, static_outputs = entry
        static_input.copy_(x)
        graph.replay()
        return static_outputs

    def capture(self, x: torch.Tensor) -> tuple[Any, torch.Tensor, list[torch.Tensor]]:
        """Warm up on a side stream (as PyTorch requires), then capture ``module(static input)``. Graphs share one
        memory pool: safe because calls are serialised and each call's outputs are copied out before the next."""
        torch = import_torch()
        static_input = x.clone()
        stream = torch.cuda.Stream(device=x.device)
        stream.wait_stream(torch.cuda.current_stream(x.device))
        with torch.cuda.stream(stream):
            self.module(static_input)
        torch.cuda.current_stream(x.device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool):
            static_outputs = as_list(self.module(static_input))
        return graph, static_input, static_outputs


def as_list(output: Any) -> list[Any]:
    return list(output) if isinstance(output, (tuple, list)) else [output]


class TorchModel:
    """An ONNX model run by PyTorch (see the module docstring); one forward at a time, safe from several threads.

    :meth:`run`: float32 (N, ...) → every output as numpy (float outputs float32, integer ones as the model makes
    them); ``__call__``: the first output (:class:`~triton_ocr.engine.base.InferenceModel`).
    """

    def __init__(
        self,
        path: Path,
        device: str = "cpu",
        precision: str = "fp32",
        *,
        cuda_graphs: bool = True,
        max_graphs: int = 128,
        threads: int = 0,
        setting: str = "runtime.device",
    ) -> None:
        torch = import_torch()
        if precision not in DTYPES:
            raise ConfigError(f"precision must be one of {sorted(DTYPES)} for the torch engine, got {precision!r}")
        self.path = Path(path)
        self.device = torch_device(device, setting)
        self.precision = precision
        self.dtype = getattr(torch, DTYPES[precision])
        self.input_names, self.output_names, self._metadata = onnx_signature(self.path)
        self.input_name, self.output_name = self.input_names[0], self.output_names[0]
        configure_backends(torch, self.device, precision, threads)
        base = convert(self.path)
        self.module = place(base, self.device, self.dtype)
        self.fp32_module = self.module if precision == "fp32" else place(base, self.device, torch.float32)
        on_gpu = self.device.type == "cuda"
        self.graphs = GraphCache(self.module, max_graphs) if on_gpu and cuda_graphs else None
        self._lock = threading.Lock()
        self._fell_back = False

    def __call__(self, tensor: np.ndarray) -> np.ndarray:
        return self.run(tensor)[0]

    def metadata(self) -> dict[str, str]:
        return dict(self._metadata)

    def run(self, tensor: np.ndarray) -> list[np.ndarray]:
        """float32 (N, C, H, W), or the detector's uint8 pixels (N, H, W, C) → the model's outputs (N, ...) as
        numpy."""
        torch = import_torch()
        rows = len(tensor)
        with self._lock, torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(as_input(tensor))).to(self.device)
            outputs = self._forward(x, rows)
            if self.precision != "fp32" and not all_finite(outputs):
                if not self._fell_back:
                    log.warning("%s: non-finite %s outputs for input %s; running such calls in fp32",
                                self.path, self.precision, tuple(tensor.shape))
                    self._fell_back = True
                outputs = [to_numpy(output) for output in as_list(self.fp32_module(x))]
        return outputs

    def _forward(self, x: torch.Tensor, rows: int) -> list[np.ndarray]:
        """One forward in the model's precision; through a CUDA graph where enabled (batch padded to its bucket)."""
        torch = import_torch()
        x = x.to(self.dtype) if x.is_floating_point() else x  # uint8 pixels: cast in the graph
        if self.graphs is None:
            return [to_numpy(output) for output in as_list(self.module(x))]
        bucket = batch_bucket(rows)
        if bucket != rows:
            x = torch.cat([x, x.new_zeros((bucket - rows, *x.shape[1:]))])
        return [to_numpy(output[:rows]) for output in self.graphs(x)]


def as_input(tensor: np.ndarray) -> np.ndarray:
    """uint8 (the detector's pixels) as it is; anything else as float32."""
    return tensor if tensor.dtype == np.uint8 else tensor.astype(np.float32, copy=False)


def to_numpy(output: torch.Tensor) -> np.ndarray:
    """A model output on the host: float outputs as float32."""
    if output.is_floating_point():
        output = output.float()
    return output.cpu().numpy()


def all_finite(outputs: list[np.ndarray]) -> bool:
    return all(np.isfinite(o).all() for o in outputs if np.issubdtype(o.dtype, np.floating))


def configure_backends(torch: Any, device: torch.device, precision: str, threads: int) -> None:
    """Process-wide PyTorch settings: cuDNN autotuning on GPUs, TF32 off for fp32 (exact fp32, as ONNX Runtime),
    ``threads`` intra-op threads on the CPU (0: PyTorch's default)."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        if precision == "fp32":
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
    elif threads > 0:
        torch.set_num_threads(threads)
