"""OpenVINO engine on the CPU: the same ONNX files, compiled once (and cached on disk) per model.

``precision="fp32"`` pins ``INFERENCE_PRECISION_HINT=f32`` (outputs equal ONNX Runtime's to ~1e-5);
``"bf16"`` runs in bfloat16 on CPUs with AVX-512 BF16 / AMX (about 2× faster; accuracy on the dev sets in
docs/accuracy.md) and falls back to fp32, with a warning, on CPUs without them.
"""

from __future__ import annotations

import logging
import threading
from functools import cache
from pathlib import Path

import numpy as np
import openvino as ov

from triton_ocr.models.cache import model_home

PRECISION_HINTS = {"fp32": "f32", "bf16": "bf16"}

log = logging.getLogger(__name__)

_core_lock = threading.Lock()
_core: ov.Core | None = None


def compiled_cache() -> Path:
    """Where OpenVINO keeps compiled models between runs (its model cache), inside the model cache."""
    return model_home() / "openvino_cache"


def core() -> ov.Core:
    """The process's OpenVINO runtime (one per process, as OpenVINO recommends)."""
    global _core
    with _core_lock:
        if _core is None:
            _core = ov.Core()
        return _core


@cache
def cpu_has_bf16() -> bool:
    """Whether this CPU computes in bfloat16 natively (OpenVINO's ``BF16`` optimization capability)."""
    return "BF16" in core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def compile_config(threads: int, precision: str, cache_dir: Path | None) -> dict[str, str]:
    """CPU plugin settings: latency hint with one stream, ``threads`` inference threads (0: plugin default)."""
    if precision not in PRECISION_HINTS:
        raise ValueError(f"precision must be one of {sorted(PRECISION_HINTS)}, got {precision!r}")
    if precision == "bf16" and not cpu_has_bf16():
        log.warning("this CPU has no bfloat16 units: OpenVINO runs fp32 instead of the configured bf16")
        precision = "fp32"
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


def poisoned(result: np.ndarray) -> bool:
    """Whether a float output is all NaN (checked from its first element on, so valid outputs cost one read)."""
    floating = result.size and np.issubdtype(result.dtype, np.floating)
    return bool(floating and np.isnan(result.flat[0]) and np.isnan(result).all())


def infer(request: ov.InferRequest, feed: dict, outputs: list) -> list[np.ndarray]:
    """Run ``request`` on ``feed`` and copy out ``outputs`` (names or indices).

    Guard: with one inference thread, OpenVINO 2026.4's CPU plugin can swallow a failed run (an input too small for
    the model's kernels) and leave the previous run's outputs in place — another request's answer. The outputs are
    therefore poisoned with NaN before each run, and a run that leaves them all NaN raises instead.
    """
    for output in outputs:
        previous = request.get_tensor(output).data
        if previous.size and np.issubdtype(previous.dtype, np.floating):
            previous.fill(np.nan)
    request.infer(feed)
    results = [request.get_tensor(output).data.copy() for output in outputs]
    if any(poisoned(result) for result in results):
        raise RuntimeError(f"OpenVINO did not run the model on inputs of shapes {[a.shape for a in feed.values()]}")
    return results


class OpenVINOModel:
    """A single-input, single-output model compiled for the CPU; safe to call from several threads."""

    def __init__(self, path: Path, threads: int = 2, precision: str = "fp32", cache: bool = True) -> None:
        self.path = Path(path)
        model = core().read_model(str(self.path))
        info = model.get_rt_info()  # an ONNX file's metadata_props arrive under "framework"
        framework = info["framework"] if "framework" in info else {}
        self._metadata = {key: value.astype(str) for key, value in framework.items()}
        cache_dir = compiled_cache() if cache else None
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
        feed = {self.input_name: np.ascontiguousarray(tensor, dtype=np.float32)}
        return infer(self._request(), feed, [self.output_name])[0]

    def metadata(self) -> dict[str, str]:
        return dict(self._metadata)
