"""OpenVINO engine on the CPU: the same ONNX files, compiled once (and cached on disk) per model.

``precision="fp32"`` pins ``INFERENCE_PRECISION_HINT=f32`` (outputs equal ONNX Runtime's to ~1e-5);
``"bf16"`` runs in bfloat16 on CPUs with AVX-512 BF16 / AMX (about 2× faster; accuracy on the dev sets in
docs/accuracy.md) and falls back to fp32, with a warning, on CPUs without them.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import cache
from pathlib import Path

import numpy as np
import openvino as ov

from triton_ocr.engine.input_check import ShapeCheck
from triton_ocr.engine.static_shapes import StaticShapes
from triton_ocr.heap import trim_heap
from triton_ocr.models.cache import model_home

PRECISION_HINTS = {"fp32": "f32", "bf16": "bf16"}

RELEASE_ABOVE_ELEMENTS = 8 * 1024 * 1024
"""The default ``resident_elements`` of a :class:`CompiledModel` (the in-process pipeline's models): after a run on
more input elements than this (a 2.8 MP detector input, or a batch of that many; a full recognition chunk of
6 × 48 × 3200 is below), the compiled model frees its intermediate buffers and the heap is trimmed: the CPU plugin
otherwise keeps them at the largest shape it ran (text_det: +560 MiB for ever after one 1984×1984 input). Freeing
costs the next runs their buffers again: at 3 M (1 MP) receipts and forms at PP-OCRv6's short side 736 crossed it
on every request, and the served detector cost 200 instead of 150 CPU ms per image (docs/performance.md). The
served detector instead holds the buffers of its largest run from load on (``max_run_elements``,
:mod:`~triton_ocr.serving.in_triton.model_runner`)."""

TRIM_ABOVE_ELEMENTS = 1 << 20
"""After a run on more input elements than this (a 0.35 MP detector input; recognition chunks of wide lines), the
heap is trimmed before the next run that starts with none in flight, when that run's outputs are let go: the
plugin's and the outputs' blocks below the mmap threshold leave free pages between blocks in use. A served detector
fed random shapes sat at ~1040 MiB with swings of ±40 MiB, trimmed at once ~900 MiB with swings, trimmed after its
outputs were freed at a flat 855 MiB. Costs ~1 % of a detector run (116 vs 117.5 ms CPU, medians of 3)."""

RUNTIME_CACHE_ENTRIES = 1024
"""The CPU plugin's cache of per-shape kernels in the in-process pipeline (``CPU_RUNTIME_CACHE_CAPACITY``;
OpenVINO's default: 5000): 240 random detector sizes took a compiled detector from 130 to 840 MiB at the default.
Smaller costs CPU: on 18 receipts, screenshots and forms the pipeline took 653–668 CPU ms per image at 32 entries
against 572–622 at 1024 (a real page's recognition chunks each have their own width; docs/performance.md)."""

SERVED_RUNTIME_CACHE_ENTRIES = 32
"""The same cache in the served models, whose memory must not grow with the traffic: warmed at its largest input,
text_det still climbed from 760 to 1016 MiB over 600 random sizes at 1024 entries, and stayed at 869 MiB from the
60th at 128, 825–828 at 32; the recogniser over 200 random chunks reached 674 MiB at 512 entries, ~455 at 128,
~415 at 32 (docs/reliability.md)."""

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


def compile_config(
    threads: int, precision: str, cache_dir: Path | None, kernel_cache: int = RUNTIME_CACHE_ENTRIES, streams: int = 1
) -> dict[str, str]:
    """CPU plugin settings: ``streams`` streams (one: the latency hint; more: the throughput hint, one infer request
    running on each at once), ``threads`` inference threads shared among them (0: plugin default), ``kernel_cache``
    per-shape kernels kept, compiled models cached under ``cache_dir`` in a folder of the precision they run
    (``fp32`` also where bf16 falls back to it).

    Why a folder each: OpenVINO 2026.4 keys its cached blobs by the model and the device, not by
    ``INFERENCE_PRECISION_HINT``, so a model compiled in fp32 was imported for a bf16 request of the same model and
    ran to all-NaN outputs (on a Xeon with AMX: PP-OCRv4's recogniser, once any fp32 compile had cached it first)."""
    if precision not in PRECISION_HINTS:
        raise ValueError(f"precision must be one of {sorted(PRECISION_HINTS)}, got {precision!r}")
    if precision == "bf16" and not cpu_has_bf16():
        log.warning("this CPU has no bfloat16 units: OpenVINO runs fp32 instead of the configured bf16")
        precision = "fp32"
    config = {
        "PERFORMANCE_HINT": "LATENCY" if streams == 1 else "THROUGHPUT",
        "NUM_STREAMS": str(streams),
        "INFERENCE_PRECISION_HINT": PRECISION_HINTS[precision],
        "CPU_RUNTIME_CACHE_CAPACITY": str(kernel_cache),
    }
    if threads > 0:
        config["INFERENCE_NUM_THREADS"] = str(threads)
    if cache_dir is not None:  # a folder per precision: OpenVINO's cache key leaves the precision hint out
        config["CACHE_DIR"] = str(cache_dir / precision)
    return config


def not_run(result: np.ndarray) -> bool:
    """Whether an output shows the engine did not run: empty, or a float output still all NaN (checked from its
    first element on, so valid outputs cost one read)."""
    if result.size == 0:
        return True
    floating = np.issubdtype(result.dtype, np.floating)
    return bool(floating and np.isnan(result.flat[0]) and np.isnan(result).all())


def infer(request: ov.InferRequest, feed: dict, outputs: list) -> list[np.ndarray]:
    """Run ``request`` on ``feed`` (non-empty inputs) and copy out ``outputs`` (names or indices).

    Guard: OpenVINO 2026.4's CPU plugin can swallow a failed run and leave the previous run's outputs in place
    (another request's answer) or empty ones. The outputs are therefore poisoned with NaN before each run, and a run
    that leaves them all NaN, or empty, raises instead.
    """
    for output in outputs:
        previous = request.get_tensor(output).data
        if previous.size and np.issubdtype(previous.dtype, np.floating):
            previous.fill(np.nan)
    request.infer(feed)
    results = [request.get_tensor(output).data.copy() for output in outputs]
    if any(not_run(result) for result in results):
        raise RuntimeError(f"OpenVINO did not run the model on inputs of shapes {[a.shape for a in feed.values()]}")
    return results


class CompiledModel:
    """An ONNX model compiled for the CPU: inputs checked first, one infer request per thread, and a fresh compiled
    model after any failed run.

    Why: OpenVINO 2026.4's CPU plugin keeps the dynamic-shape state of the graph (node shapes, memory) in the
    compiled model, shared by all its infer requests. A run that fails inside the plugin (a line narrower than a
    pooling kernel, a detector input off its stride, a zero-sized batch) leaves that state half-updated: later runs
    of the last good shape fail as well — with 2 threads they raise the failed run's error again, with 1 thread they
    do not run at all and the outputs stay stale or empty, in fresh infer requests too — until a run of another
    shape re-infers every node; after a zero-sized batch no shape runs again. Inputs are therefore checked against
    the model's shape inference (:class:`~triton_ocr.engine.input_check.ShapeCheck`) before the plugin sees them,
    and should a run fail anyway, the compiled model is discarded and compiled again (from the on-disk cache:
    ~40 ms), so the failure stays with its own request.
    """

    def __init__(
        self,
        path: Path,
        properties: dict[str, str],
        name: str | None = None,
        resident_elements: int = RELEASE_ABOVE_ELEMENTS,
        static_shapes: int = 0,
    ) -> None:
        self.path = Path(path)
        self.resident_elements = resident_elements
        """Runs on at most this many input elements keep their buffers; after a larger one they are freed."""
        self.name = name or self.path.parent.name
        self.model = core().read_model(str(self.path))
        self.properties = properties
        self.check = ShapeCheck(self.model, self.name)
        self.input_names = [port.get_any_name() for port in self.model.inputs]
        self.input_dtypes = {port.get_any_name(): port.get_element_type().to_dtype() for port in self.model.inputs}
        """Each input's numpy dtype (the detector takes uint8 pixels, the others float32)."""
        self.output_names = [port.get_any_name() for port in self.model.outputs]
        self._lock = threading.Lock()
        self._local = threading.local()
        self._running = 0
        self._large_run = False
        """A run above ``resident_elements`` since the buffers were last freed."""
        self._trim = False
        """A run above :data:`TRIM_ABOVE_ELEMENTS` since the heap was last trimmed."""
        self.recompilations = 0
        self.releases = 0
        self._compiled = core().compile_model(self.model, "CPU", self.properties)
        self.static = StaticShapes(core(), self.model, properties, static_shapes, RELEASE_ABOVE_ELEMENTS)
        """Copies compiled for the input shapes that recur (``static_shapes`` of them; 0: none)."""

    def _request(self) -> tuple[ov.CompiledModel, ov.InferRequest]:
        compiled = self._compiled
        if getattr(self._local, "compiled", None) is not compiled:
            self._local.compiled, self._local.request = compiled, compiled.create_infer_request()
        return compiled, self._local.request

    def run(self, feed: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
        """``outputs`` for ``feed`` (C-contiguous arrays of :attr:`input_dtypes` by input name);
        InvalidModelInputError for a shape the model cannot run, RuntimeError for a failed run (after which the next
        run gets a fresh compiled model)."""
        shapes = {name: array.shape for name, array in feed.items()}
        self.check(shapes)
        copy = self.static.copy_for(shapes)
        self._before_run()
        compiled, request = (copy.compiled, copy.request()) if copy else self._request()
        try:
            return infer(request, feed, outputs)
        except Exception:
            if copy:
                self.static.forget(copy)
            else:
                self._recompile(compiled)
            raise
        finally:
            self._after_run(sum(array.size for array in feed.values()))

    def _before_run(self) -> None:
        """Count the run as started; first, when none is in flight and one above :data:`TRIM_ABOVE_ELEMENTS` ran
        since, give the heap's free pages back (the caller has let go of that run's outputs by now)."""
        with self._lock:
            if self._trim and not self._running:
                trim_heap()
                self._trim = False
            self._running += 1

    def _after_run(self, elements: int) -> None:
        """Count the run as done; once no run is in flight after one above ``resident_elements`` — whichever run
        ends last, a large one overlapped by a smaller one included — free the intermediate buffers and trim the
        heap. Runs wait for the lock, so none starts meanwhile."""
        with self._lock:
            self._running -= 1
            self._large_run |= elements > self.resident_elements
            self._trim |= elements > TRIM_ABOVE_ELEMENTS
            if self._large_run and self._running == 0:
                self._compiled.release_memory()
                trim_heap()  # the buffers below the mmap threshold (heap.MALLOC_SETTINGS) are free heap pages now
                self._large_run = False
                self.releases += 1

    def warm_up(self, shapes: dict[str, tuple[int, ...]]) -> float:
        """Run zeros of ``shapes`` once, so that the buffers for them are allocated now and not by a later request;
        returns the seconds it took."""
        started = time.perf_counter()
        self.run({name: np.zeros(shape, self.input_dtypes[name]) for name, shape in shapes.items()}, self.output_names)
        return time.perf_counter() - started

    def _recompile(self, failed: ov.CompiledModel) -> None:
        with self._lock:
            if self._compiled is failed:  # threads that failed on the same compiled model recompile it once
                log.warning("%s: a run failed inside OpenVINO; compiling the model again", self.name)
                self._compiled = core().compile_model(self.model, "CPU", self.properties)
                self.recompilations += 1


class OpenVINOModel:
    """A single-input, single-output model compiled for the CPU; safe to call from several threads, ``streams`` of
    which run at once (``threads`` shared among them); ``static_shapes``: copies compiled for that many recurring
    input shapes (:class:`~triton_ocr.engine.static_shapes.StaticShapes`)."""

    def __init__(
        self,
        path: Path,
        threads: int = 2,
        precision: str = "fp32",
        cache: bool = True,
        streams: int = 1,
        static_shapes: int = 0,
    ) -> None:
        self.path = Path(path)
        cache_dir = compiled_cache() if cache else None
        properties = compile_config(threads, precision, cache_dir, streams=streams)
        self.compiled = CompiledModel(self.path, properties, static_shapes=static_shapes)
        info = self.compiled.model.get_rt_info()  # an ONNX file's metadata_props arrive under "framework"
        framework = info["framework"] if "framework" in info else {}
        self._metadata = {key: value.astype(str) for key, value in framework.items()}
        self.input_name = self.compiled.input_names[0]
        self.output_name = self.compiled.output_names[0]

    def __call__(self, tensor: np.ndarray) -> np.ndarray:
        feed = {self.input_name: np.ascontiguousarray(tensor, dtype=self.compiled.input_dtypes[self.input_name])}
        return self.compiled.run(feed, [self.output_name])[0]

    def metadata(self) -> dict[str, str]:
        return dict(self._metadata)
