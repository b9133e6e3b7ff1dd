"""OpenVINO engine on the CPU: the same ONNX files, compiled once (and cached on disk) per model.

``precision="fp32"`` pins ``INFERENCE_PRECISION_HINT=f32`` (outputs equal ONNX Runtime's to ~1e-5);
``"bf16"`` lets CPUs with AVX-512 BF16 / AMX run in bfloat16 (about 2× faster, accuracy measured in docs).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import openvino as ov

from triton_ocr.models.registry import model_home

PRECISION_HINTS = {"fp32": "f32", "bf16": "bf16"}

_core_lock = threading.Lock()
_core: ov.Core | None = None


def core() -> ov.Core:
    """The process's OpenVINO runtime (one per process, as OpenVINO recommends)."""
    global _core
    with _core_lock:
        if _core is None:
            _core = ov.Core()
        return _core


def compile_config(threads: int, precision: str, cache_dir: Path | None) -> dict[str, str]:
    """CPU plugin settings: latency hint with one stream, ``threads`` inference threads (0: plugin default)."""
    if precision not in PRECISION_HINTS:
        raise ValueError(f"precision must be one of {sorted(PRECISION_HINTS)}, got {precision!r}")
    config = {
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": "1",
        "INFERENCE_PRECISION_HINT": PRECISION_HINTS[precision],
    }
    if threads > 0:
        config["INFERENCE_NUM_THREADS"] = str(threads)
    if cache_dir is not None:
        config["CACHE_DIR"] = str(cache_dir)
    return config


class OpenVINOModel:
    """A single-input, single-output model compiled for the CPU; safe to call from several threads."""

    def __init__(self, path: Path, threads: int = 2, precision: str = "fp32", cache: bool = True) -> None:
        self.path = Path(path)
        model = core().read_model(str(self.path))
        info = model.get_rt_info()  # an ONNX file's metadata_props arrive under "framework"
        framework = info["framework"] if "framework" in info else {}
        self._metadata = {key: value.astype(str) for key, value in framework.items()}
        cache_dir = model_home() / "openvino_cache" if cache else None
        self.compiled = core().compile_model(model, "CPU", compile_config(threads, precision, cache_dir))
        self.input_name = self.compiled.input(0).get_any_name()
        self.output_name = self.compiled.output(0).get_any_name()
        self._local = threading.local()

    def _request(self) -> ov.InferRequest:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        return request

    def __call__(self, tensor: np.ndarray) -> np.ndarray:
        request = self._request()
        request.infer({0: np.ascontiguousarray(tensor, dtype=np.float32)})
        return request.get_output_tensor(0).data.copy()

    def metadata(self) -> dict[str, str]:
        return dict(self._metadata)
