#!/usr/bin/env python3
"""GPU throughput of the ``gpu`` serving profile's detector and recogniser, run through PyTorch.

What it measures: the very ONNX files Triton serves (PP-OCRv4 mobile det/rec), converted to PyTorch with
``onnx2torch`` and run on CUDA — model time only (inputs already on the GPU, no pre/post-processing, no Triton).
It is a stand-in for ONNX Runtime CUDA / TensorRT inside Triton, which were not available where it was run: the
numbers say what the models cost on the GPU through PyTorch's cuDNN kernels, not what Triton will serve.

Modes:

* default (run ON THE GPU MACHINE; needs torch with CUDA, onnx, onnxruntime (CPU is enough), onnx2torch):
  converts both models (Conv+BatchNorm folded, as ONNX Runtime/TensorRT do), checks torch-CUDA against
  onnxruntime CPU (max abs diff; detector: agreement of the 0.3 text mask; recogniser: per-timestep argmax
  agreement), then times det at batch 1/4/8 (960×960) and rec at batch 1/6/32/64/128 (width 320) and batch 64 at
  widths 480/960 in fp32 (cuDNN TF32 convolutions, PyTorch's default), fp32_strict (TF32 off), fp16, fp16
  channels-last and fp16 replayed in a CUDA graph; with ``--inputs`` it also times the recorded workload (every
  image's detector shape and recogniser batches). ``--phases compile`` (or ``--compile``) adds ``torch.compile``
  (static shapes), plain and in a CUDA graph. Prints a markdown table, writes JSON ($OUT/gpu_model_bench.json).
  Example: ``python3 scripts/gpu_model_bench.py --phases correctness timings workload compile``.
* ``--cpu-baseline``: onnxruntime CPU only (det batch 1 960×960, rec batch 6 width 320, ``--threads`` threads), for
  the GPU/CPU ratio on the CPU box.
* ``--make-inputs NPZ``: build realistic inputs with the project's own preprocessing (needs ``triton_ocr``
  importable and the ONNX Runtime models): one real document's detector input (padded to a multiple of 128, as the
  gpu profile does) and a recogniser batch of its line crops, plus per-image workload statistics (detector shape,
  recogniser batches of ``--rec-batch-size`` lines at widths rounded up to ``--width-step``) over a folder of
  images, for ``--inputs``.

Timing: CUDA events around each call after warm-up, N timed calls, median and p10/p90 ms per batch.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

DET_SHAPE_NOTE = "3×H×W, ImageNet-normalised"
REC_HEIGHT = 48


# --------------------------------------------------------------------------------------------------- ONNX → torch


def onnx_to_torch() -> Any:
    """``triton_ocr/engine/onnx_to_torch.py`` (the torch engine's conversion: graph rewrites for onnx2torch, shape
    arguments kept on the host), loaded by path so that this script needs none of the package's dependencies."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "python_backend" / "triton_ocr" / "engine" / "onnx_to_torch.py"
    spec = importlib.util.spec_from_file_location("onnx_to_torch", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def to_device(module: Any, device: str, dtype: Any, channels_last: bool = False) -> Any:
    """A copy of ``module`` on ``device`` in ``dtype`` (eval mode), shape arguments kept on the CPU."""
    import torch

    moved = onnx_to_torch().place(module, torch.device(device), dtype)
    return moved.to(memory_format=torch.channels_last) if channels_last else moved


# --------------------------------------------------------------------------------------------------- timing


def summarise(times_ms: Sequence[float], items: int) -> dict[str, float]:
    """Median, p10, p90 ms per batch and items/s at the median."""
    ordered = sorted(times_ms)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]

    median = statistics.median(ordered)
    return {
        "median_ms": median,
        "p10_ms": pct(0.10),
        "p90_ms": pct(0.90),
        "min_ms": ordered[0],
        "max_ms": ordered[-1],
        "items_per_s": items / (median / 1000.0),
        "iterations": len(ordered),
    }


def time_cuda(call: Callable[[], Any], warmup: int, iterations: int) -> list[float]:
    """``call`` timed with CUDA events, one pair per call, after ``warmup`` calls."""
    import torch

    for _ in range(warmup):
        call()
    torch.cuda.synchronize()
    pairs = []
    for _ in range(iterations):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        call()
        end.record()
        pairs.append((start, end))
    torch.cuda.synchronize()
    return [start.elapsed_time(end) for start, end in pairs]


def time_wall(call: Callable[[], Any], warmup: int, iterations: int) -> list[float]:
    for _ in range(warmup):
        call()
    times = []
    for _ in range(iterations):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000.0)
    return times


# --------------------------------------------------------------------------------------------------- inputs


def det_batch(batch: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Random detector input: ImageNet-normalised pixels of a uniform image."""
    rng = np.random.default_rng(seed)
    return ((rng.random((batch, 3, height, width), dtype=np.float32) - 0.45) / 0.225).astype(np.float32)


def rec_batch(batch: int, width: int, seed: int = 1) -> np.ndarray:
    """Random recogniser input in the model's [-1, 1] range."""
    rng = np.random.default_rng(seed)
    return (rng.random((batch, 3, REC_HEIGHT, width), dtype=np.float32) * 2.0 - 1.0).astype(np.float32)


def tile_batch(sample: np.ndarray, batch: int) -> np.ndarray:
    """``batch`` rows taken cyclically from ``sample`` (n, ...)."""
    return np.ascontiguousarray(sample[np.arange(batch) % sample.shape[0]])


# --------------------------------------------------------------------------------------------------- GPU run


def ort_session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def compare(kind: str, reference: np.ndarray, candidate: np.ndarray) -> dict[str, Any]:
    """Max/mean abs diff; recogniser: per-timestep argmax agreement; detector: agreement of the 0.3 text mask."""
    diff = np.abs(reference.astype(np.float64) - candidate.astype(np.float64))
    result: dict[str, Any] = {"max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean())}
    if kind == "rec":
        result["argmax_agree_pct"] = float((reference.argmax(-1) == candidate.argmax(-1)).mean() * 100.0)
    else:
        result["mask_agree_pct"] = float(((reference > 0.3) == (candidate > 0.3)).mean() * 100.0)
    return result


def gpu_run(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from torch.fx.experimental.optimization import fuse

    onnx2torch = onnx_to_torch().import_onnx2torch()

    torch.backends.cudnn.benchmark = True
    device = args.device
    began = time.perf_counter()
    on_gpu = device.startswith("cuda")
    timer = time_cuda if on_gpu else time_wall
    sync = torch.cuda.synchronize if on_gpu else (lambda: None)
    props = torch.cuda.get_device_properties(0) if on_gpu else argparse.Namespace(name=platform.processor() or "cpu")
    report: dict[str, Any] = {
        "what": "PP-OCRv4 mobile det/rec ONNX → onnx2torch → PyTorch CUDA eager (cuDNN); model time only, "
        "inputs already on the GPU. NOT ONNX Runtime CUDA/TensorRT in Triton.",
        "device": props.name,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "onnx2torch": getattr(onnx2torch, "__version__", "?"),
        "warmup": args.warmup,
        "iterations": args.iterations,
        "correctness": [],
        "timings": [],
        "failures": [],
    }
    print(f"device: {props.name} ({device}), torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN "
          f"{torch.backends.cudnn.version()}, TF32 convolutions: {torch.backends.cudnn.allow_tf32}", flush=True)

    realistic = dict(np.load(args.inputs)) if args.inputs and Path(args.inputs).is_file() else {}
    args.realistic = realistic
    phases = set(args.phases)
    modules: dict[str, Any] = {}
    for kind, path in (("det", args.det), ("rec", args.rec)):
        t0 = time.perf_counter()
        unfused = onnx_to_torch().convert(Path(path), fold_batchnorm=False)
        # Conv+BatchNorm folded in fp32 first, as ONNX Runtime and TensorRT do: the detector head's BN has
        # running_var up to ~9.8e7, beyond fp16's 65504, so a plain .half() of the unfused graph turns it to inf.
        base = fuse(unfused, no_trace=True)
        modules[kind] = {
            "fp32": to_device(base, device, torch.float32),
            "fp16": to_device(base, device, torch.float16),
            "fp16_cl": to_device(base, device, torch.float16, channels_last=True),
            "fp16_unfused": to_device(unfused, device, torch.float16),
        }
        print(f"{kind}: converted {path} in {time.perf_counter() - t0:.1f} s", flush=True)

    def forward(kind: str, variant: str, x: Any) -> Any:
        """``fp32_strict``: the fp32 module with cuDNN's TF32 convolutions off (PyTorch's default is on)."""
        if variant != "fp32_strict":
            return modules[kind][variant](x)
        torch.backends.cudnn.allow_tf32 = False
        try:
            return modules[kind]["fp32"](x)
        finally:
            torch.backends.cudnn.allow_tf32 = True

    def prepare(x_np: np.ndarray, variant: str) -> Any:
        x = torch.from_numpy(x_np).to(device)
        if variant.startswith("fp16"):
            x = x.half()
        if variant.endswith("_cl"):
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    # ---- correctness vs onnxruntime CPU
    cases_enabled = "correctness" in phases
    sessions = (
        {kind: ort_session(Path(path), os.cpu_count() or 1) for kind, path in (("det", args.det), ("rec", args.rec))}
        if cases_enabled
        else {}
    )
    cases: list[tuple[str, str, np.ndarray]] = [
        ("det", "random 1×3×960×960", det_batch(1, 960, 960)),
        ("rec", "random 6×3×48×320", rec_batch(6, 320)),
    ]
    if "det_doc" in realistic:
        cases.append(("det", f"real document {tuple(realistic['det_doc'].shape)}", realistic["det_doc"]))
    if "rec_doc" in realistic:
        cases.append(("rec", f"real lines {tuple(realistic['rec_doc'].shape)}", realistic["rec_doc"]))
    if not cases_enabled:
        cases = []
    with torch.inference_mode():
        for kind, label, x_np in cases:
            reference = sessions[kind].run(None, {"x": x_np})[0]
            for variant in ("fp32", "fp32_strict", "fp16", "fp16_cl", "fp16_unfused"):
                try:
                    out = forward(kind, variant, prepare(x_np, variant)).float().cpu().numpy()
                    row = {"model": kind, "input": label, "variant": variant, **compare(kind, reference, out)}
                except Exception as exc:  # noqa: BLE001 - report and go on
                    row = {"model": kind, "input": label, "variant": variant, "error": f"{type(exc).__name__}: {exc}"}
                    report["failures"].append(row)
                report["correctness"].append(row)
                print("correctness:", json.dumps(row), flush=True)
    checkpoint(report, args)

    # ---- throughput
    shapes: list[tuple[str, int, int, int]] = [("det", b, args.det_size[0], args.det_size[1]) for b in args.det_batches]
    shapes += [("rec", b, REC_HEIGHT, args.rec_width) for b in args.rec_batches]
    shapes += [("rec", args.rec_wide_batch, REC_HEIGHT, w) for w in args.rec_wide_widths]
    for extra in args.det_extra_sizes:
        shapes.append(("det", args.det_extra_batch, extra[0], extra[1]))
    variants = ["fp32", "fp32_strict", "fp16", "fp16_cl", "fp16_graph"] if on_gpu else ["fp32", "fp16"]
    if "timings" not in phases:
        shapes = []
    with torch.inference_mode():
        for kind, batch, height, width in shapes:
            x_np = det_batch(batch, height, width) if kind == "det" else rec_batch(batch, width)
            for variant in variants:
                label = {"model": kind, "batch": batch, "shape": f"{batch}×3×{height}×{width}", "variant": variant}
                try:
                    if variant == "fp16_graph":
                        call = cuda_graph_call(modules[kind]["fp16"], prepare(x_np, "fp16"))
                    else:
                        x = prepare(x_np, variant)

                        def call(kind: str = kind, variant: str = variant, x: Any = x) -> Any:
                            return forward(kind, variant, x)

                    stats = summarise(timer(call, args.warmup, args.iterations), batch)
                    row = {**label, **stats}
                except Exception as exc:  # noqa: BLE001
                    row = {**label, "error": f"{type(exc).__name__}: {str(exc)[:300]}"}
                    report["failures"].append(row)
                    sync()
                report["timings"].append(row)
                print("timing:", json.dumps(row), flush=True)
                if variant == "fp16_graph":
                    del call
                    torch.cuda.empty_cache()

    checkpoint(report, args)
    print(markdown(report), flush=True)

    # ---- per-document model cost from the realistic workload
    if "workload_det_hw" in realistic and "workload" in phases:
        try:
            report["workload"] = workload_cost(realistic, modules, prepare, args, on_gpu)
        except Exception as exc:  # noqa: BLE001
            report["failures"].append({"phase": "workload", "error": f"{type(exc).__name__}: {str(exc)[:300]}"})
            print("workload failed:", exc, flush=True)
        checkpoint(report, args)

    # ---- torch.compile, within a budget
    if (args.compile or "compile" in phases) and on_gpu:
        report["compile"] = []
        compile_run(args, modules, prepare, began, report)
    report["gpu_run_s"] = time.perf_counter() - began
    return report


def checkpoint(report: dict[str, Any], args: argparse.Namespace) -> None:
    """Write the report so far (a run cut off by a time limit still leaves its finished phases)."""
    output_path(args, "gpu_model_bench.json").write_text(json.dumps(report, indent=1, default=_jsonable))


def _jsonable(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else str(value)


def output_path(args: argparse.Namespace, default_name: str) -> Path:
    return Path(args.json) if args.json else Path(os.environ.get("OUT", ".")) / default_name


def cuda_graph_call(module: Any, x: Any) -> Callable[[], Any]:
    """Capture ``module(x)`` in a CUDA graph (static shapes; replays on the same input buffer)."""
    import torch

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            module(x)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        module(x)
    return graph.replay


def workload_cost(realistic: dict[str, np.ndarray], modules: dict[str, Any], prepare: Callable[..., Any],
                  args: argparse.Namespace, on_gpu: bool = True) -> dict[str, Any]:
    """GPU model time of the recorded workload (each image's detector shape, its recogniser batches), fp16 graph
    and fp16 eager, each distinct shape timed once (median of ``--iterations`` calls) and summed per image."""
    import torch

    det_hw = realistic["workload_det_hw"]  # (images, 2)
    rec_batches = realistic["workload_rec_batches"]  # (k, 3): image, lines, width
    det_shapes = sorted({(int(h), int(w)) for h, w in det_hw})
    rec_shapes = sorted({(int(n), int(w)) for _, n, w in rec_batches})
    cost: dict[str, dict[str, float]] = {"fp16_graph": {}, "fp16": {}} if on_gpu else {"fp16": {}}
    timer = time_cuda if on_gpu else time_wall
    iterations = max(10, args.iterations // 2) if on_gpu else 1
    with torch.inference_mode():
        for variant in cost:
            for key, (kind, batch, height, width) in [
                *((f"det:{h}x{w}", ("det", 1, h, w)) for h, w in det_shapes),
                *((f"rec:{n}x{w}", ("rec", n, REC_HEIGHT, w)) for n, w in rec_shapes),
            ]:
                x_np = det_batch(batch, height, width) if kind == "det" else rec_batch(batch, width)
                if variant == "fp16_graph":
                    call = cuda_graph_call(modules[kind]["fp16"], prepare(x_np, "fp16"))
                else:
                    x = prepare(x_np, "fp16")

                    def call(module: Any = modules[kind]["fp16"], x: Any = x) -> Any:
                        return module(x)

                cost[variant][key] = statistics.median(timer(call, 3 if on_gpu else 0, iterations))
                if on_gpu:
                    del call
                    torch.cuda.empty_cache()
    per_image = []
    for index, (h, w) in enumerate(det_hw):
        lines = [(int(n), int(wd)) for img, n, wd in rec_batches if int(img) == index]
        row = {"det_hw": [int(h), int(w)], "lines": sum(n for n, _ in lines), "rec_batches": lines}
        for variant, table in cost.items():
            det_ms = table[f"det:{int(h)}x{int(w)}"]
            rec_ms = sum(table[f"rec:{n}x{wd}"] for n, wd in lines)
            row[f"{variant}_det_ms"], row[f"{variant}_rec_ms"] = det_ms, rec_ms
        per_image.append(row)
    summary = {"images": len(per_image), "lines_mean": float(np.mean([r["lines"] for r in per_image]))}
    for variant in cost:
        det_total = sum(r[f"{variant}_det_ms"] for r in per_image)
        rec_total = sum(r[f"{variant}_rec_ms"] for r in per_image)
        summary[variant] = {
            "det_ms_per_image": det_total / len(per_image),
            "rec_ms_per_image": rec_total / len(per_image),
            "images_per_s_batch1_serial": 1000.0 * len(per_image) / (det_total + rec_total),
        }
    print("workload:", json.dumps(summary), flush=True)
    return {"summary": summary, "per_image": per_image, "shape_ms": cost}


def static_reshapes(module: Any) -> Any:
    """A copy of ``module`` whose ``Reshape`` targets are Python ints, remembered per input shape.

    For ``torch.compile``: onnx2torch builds ``torch.Size(shape_tensor)``, which dynamo cannot trace
    ("torch.Size() takes an iterable of 'int' (item 0 is 'FakeTensor')"). The targets are recorded on an eager call
    (:func:`prime`) and replayed as constants, which is what a static-shape engine (TensorRT) does too.
    """
    import types

    import torch

    def reshape(self: Any, input_tensor: Any, shape: Any) -> Any:
        key = tuple(input_tensor.shape)
        dims = self._static_dims.get(key)
        if dims is None:
            dims = [input_tensor.shape[i] if int(d) == 0 else int(d) for i, d in enumerate(shape.tolist())]
            self._static_dims[key] = dims
        return torch.reshape(input_tensor, dims)

    copied = copy.deepcopy(module)
    for submodule in copied.modules():
        if type(submodule).__name__ == "OnnxReshape":
            submodule._static_dims = {}
            submodule.forward = types.MethodType(reshape, submodule)
    return copied


def compile_run(args: argparse.Namespace, modules: dict[str, Any], prepare: Callable[..., Any],
                began: float, report: dict[str, Any]) -> None:
    """``torch.compile`` (``--compile-mode``, static shapes) of the fp16 modules, each shape of the timing plan,
    plain and replayed in a CUDA graph; stops at ``--compile-budget-s``. Rows go to ``report["compile"]``."""
    import torch
    import torch._dynamo

    for name in ("recompile_limit", "cache_size_limit"):
        if hasattr(torch._dynamo.config, name):
            setattr(torch._dynamo.config, name, 256)
    rows: list[dict[str, Any]] = report["compile"]
    plan = [("det", b, *args.det_size) for b in args.det_batches]
    plan += [("rec", b, REC_HEIGHT, args.rec_width) for b in args.rec_batches]
    plan += [("rec", args.rec_wide_batch, REC_HEIGHT, w) for w in args.rec_wide_widths]
    eager = {kind: static_reshapes(modules[kind]["fp16"]) for kind in ("det", "rec")}
    compiled = {kind: torch.compile(eager[kind], mode=args.compile_mode, dynamic=False) for kind in eager}
    for kind, batch, height, width in plan:
        label = {"model": kind, "batch": batch, "shape": f"{batch}×3×{height}×{width}"}
        if time.perf_counter() - began > args.compile_budget_s:
            rows.append({**label, "skipped": "time budget"})
            continue
        x_np = det_batch(batch, height, width) if kind == "det" else rec_batch(batch, width)
        x = prepare(x_np, "fp16")
        with torch.inference_mode():
            eager[kind](x)  # records the reshape targets of this shape
            for variant in (f"fp16_compile_{args.compile_mode}", f"fp16_compile_{args.compile_mode}_graph"):
                row: dict[str, Any] = {**label, "variant": variant}
                try:
                    t0 = time.perf_counter()
                    if variant.endswith("_graph"):
                        call = cuda_graph_call(compiled[kind], x)
                    else:
                        compiled[kind](x)

                        def call(module: Any = compiled[kind], x: Any = x) -> Any:
                            return module(x)

                    torch.cuda.synchronize()
                    row["compile_s"] = time.perf_counter() - t0
                    row.update(summarise(time_cuda(call, args.warmup, args.iterations), batch))
                    if variant.endswith("_graph"):
                        del call
                except Exception as exc:  # noqa: BLE001
                    row["error"] = f"{type(exc).__name__}: {str(exc)[:400]}"
                    torch.cuda.synchronize()
                rows.append(row)
                print("compile:", json.dumps(row), flush=True)
        checkpoint(report, args)
    if "rec_doc" in args.realistic:
        x_np = args.realistic["rec_doc"]
        reference = ort_session(Path(args.rec), os.cpu_count() or 1).run(None, {"x": x_np})[0]
        try:
            with torch.inference_mode():
                x = prepare(x_np, "fp16")
                eager["rec"](x)
                out = compiled["rec"](x).float().cpu().numpy()
            row = {"model": "rec", "input": f"real lines {tuple(x_np.shape)}",
                   "variant": f"fp16_compile_{args.compile_mode}", **compare("rec", reference, out)}
        except Exception as exc:  # noqa: BLE001
            row = {"model": "rec", "variant": "fp16_compile", "error": f"{type(exc).__name__}: {str(exc)[:300]}"}
        report["correctness"].append(row)
        print("correctness:", json.dumps(row), flush=True)
    checkpoint(report, args)


# --------------------------------------------------------------------------------------------------- CPU baseline


def cpu_baseline(args: argparse.Namespace) -> dict[str, Any]:
    """onnxruntime CPU, ``--threads`` intra-op threads: det batch 1 at ``--det-size``, rec batch 6 at width 320."""
    import onnxruntime as ort

    report: dict[str, Any] = {
        "what": f"onnxruntime {ort.__version__} CPUExecutionProvider, {args.threads} intra-op threads",
        "host": platform.node(),
        "cpu_count": os.cpu_count(),
        "load_avg_before": os.getloadavg(),
        "timings": [],
    }
    cases = [("det", args.det, det_batch(1, *args.det_size)), ("rec", args.rec, rec_batch(6, 320))]
    for kind, path, x in cases:
        session = ort_session(Path(path), args.threads)
        times = time_wall(lambda session=session, x=x: session.run(None, {"x": x}), args.cpu_warmup, args.cpu_iterations)
        row = {"model": kind, "batch": x.shape[0], "shape": "×".join(map(str, x.shape)), "variant": "ort_cpu",
               **summarise(times, x.shape[0])}
        report["timings"].append(row)
        print("timing:", json.dumps(row), flush=True)
    report["load_avg_after"] = os.getloadavg()
    return report


# --------------------------------------------------------------------------------------------------- inputs from images


def make_inputs(args: argparse.Namespace) -> dict[str, Any]:
    """Realistic inputs from real images through the project's preprocessing (run where ``triton_ocr`` is)."""
    import cv2

    from triton_ocr.config import OCRConfig
    from triton_ocr.stages import boxes_from_prob_map, det_input, line_crops, plan_rec_batches
    from triton_ocr.steps.det_padding import pad_det_input, unpad_prob_map
    from triton_ocr.steps.normalization import normalize_to_chw

    cfg = OCRConfig()
    rec_cfg = cfg.text_rec.model_copy(update={"batch_size": args.rec_batch_size, "width_step": args.width_step})
    det_session = ort_session(Path(args.det), args.threads)
    images = sorted(p for p in Path(args.images).rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    det_hw, rec_rows, doc = [], [], None
    for index, path in enumerate(images):
        image = cv2.imread(str(path))
        if image is None:
            continue
        pixels = det_input(image, cfg.text_det)  # the raw detector's input: normalised here, as its graph takes it
        det = cfg.text_det
        padded = normalize_to_chw(pad_det_input(pixels, args.det_multiple, det.mean)[0], det.mean, det.std)[None]
        prob = unpad_prob_map(det_session.run(None, {"x": padded})[0], pixels.shape[1:3])
        boxes = boxes_from_prob_map(prob, image.shape[:2], cfg.text_det)
        crops = line_crops(image, boxes)
        batches = plan_rec_batches(crops, rec_cfg)
        det_hw.append(padded.shape[-2:])
        rec_rows += [(len(det_hw) - 1, len(b.indices), b.tensor.shape[-1]) for b in batches]
        print(f"{path.name}: det {padded.shape[-2:]}, {len(crops)} lines, rec batches "
              f"{[(len(b.indices), b.tensor.shape[-1]) for b in batches]}", flush=True)
        if path.name == args.doc or (doc is None and args.doc is None and len(crops) >= 20):
            doc = {"det_doc": padded, "rec_doc": batches[0].tensor, "doc": path.name}
    if doc is None:
        raise SystemExit("no document with ≥ 20 lines found: pass --doc")
    out = Path(args.make_inputs)
    np.savez_compressed(out, det_doc=doc["det_doc"], rec_doc=doc["rec_doc"].astype(np.float32),
                        workload_det_hw=np.array(det_hw, np.int64), workload_rec_batches=np.array(rec_rows, np.int64))
    lines = np.bincount(np.array([r[0] for r in rec_rows], np.int64), weights=[r[1] for r in rec_rows],
                        minlength=len(det_hw))
    summary = {"images": len(det_hw), "doc": doc["doc"], "det_doc": list(doc["det_doc"].shape),
               "rec_doc": list(doc["rec_doc"].shape), "lines_mean": float(lines.mean()),
               "lines_median": float(np.median(lines)), "rec_batch_size": args.rec_batch_size,
               "width_step": args.width_step}
    print(json.dumps(summary), flush=True)
    return summary


# --------------------------------------------------------------------------------------------------- report


def markdown(report: dict[str, Any]) -> str:
    """The timings (and compile rows) as a markdown table."""
    lines = ["| model | input | variant | median ms | p10–p90 ms | items/s |", "|---|---|---|---:|---:|---:|"]
    for row in [*report.get("timings", []), *report.get("compile", [])]:
        if "skipped" in row:
            continue
        unit = "img/s" if row["model"] == "det" else "lines/s"
        if "error" in row:
            lines.append(f"| {row['model']} | {row['shape']} | {row['variant']} | failed | {row['error'][:80]} | |")
            continue
        lines.append(f"| {row['model']} | {row['shape']} | {row['variant']} | {row['median_ms']:.2f} | "
                     f"{row['p10_ms']:.2f}–{row['p90_ms']:.2f} | {row['items_per_s']:,.0f} {unit} |")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--det", default=".gpu_models/det.onnx", help="detector ONNX (PP-OCRv4_mobile_det)")
    parser.add_argument("--rec", default=".gpu_models/rec.onnx", help="recogniser ONNX (PP-OCRv4_mobile_rec)")
    parser.add_argument("--inputs", default=".gpu_models/realistic.npz", help="from --make-inputs (optional)")
    parser.add_argument("--det-batches", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--det-size", type=int, nargs=2, default=[960, 960], metavar=("H", "W"))
    parser.add_argument("--det-extra-sizes", type=int, nargs=2, action="append", default=[], metavar=("H", "W"),
                        help="more detector sizes, timed at --det-extra-batch")
    parser.add_argument("--det-extra-batch", type=int, default=8)
    parser.add_argument("--rec-batches", type=int, nargs="+", default=[1, 6, 32, 64, 128])
    parser.add_argument("--rec-width", type=int, default=320)
    parser.add_argument("--rec-wide-batch", type=int, default=64)
    parser.add_argument("--rec-wide-widths", type=int, nargs="*", default=[480, 960])
    parser.add_argument("--device", default="cuda", help="torch device (cpu: a dry run of the GPU mode)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--phases", nargs="+", default=["correctness", "timings", "workload"],
                        choices=["correctness", "timings", "workload", "compile"], help="GPU mode: what to run")
    parser.add_argument("--compile", action="store_true", help="also torch.compile the fp16 modules (= phase)")
    parser.add_argument("--compile-mode", default="default")
    parser.add_argument("--compile-budget-s", type=float, default=400.0,
                        help="no new compile once the whole GPU run is this old")
    parser.add_argument("--json", default=None, help="output JSON (default: $OUT/gpu_model_bench.json or ./)")
    parser.add_argument("--cpu-baseline", action="store_true", help="onnxruntime CPU only (no torch)")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads (CPU modes)")
    parser.add_argument("--cpu-warmup", type=int, default=3)
    parser.add_argument("--cpu-iterations", type=int, default=20)
    parser.add_argument("--make-inputs", default=None, metavar="NPZ", help="build realistic inputs and exit")
    parser.add_argument("--images", default="../shared/data/photos_docs", help="--make-inputs: image folder")
    parser.add_argument("--doc", default=None, help="--make-inputs: file name of the document to keep")
    parser.add_argument("--det-multiple", type=int, default=128, help="--make-inputs: gpu profile det padding")
    parser.add_argument("--rec-batch-size", type=int, default=32, help="--make-inputs: gpu profile rec batch")
    parser.add_argument("--width-step", type=int, default=160, help="--make-inputs: rec width bucket step")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.make_inputs:
        report = make_inputs(args)
        default_name = "gpu_model_bench_inputs.json"
    elif args.cpu_baseline:
        report = cpu_baseline(args)
        default_name = "gpu_model_bench_cpu.json"
    else:
        report = gpu_run(args)
        default_name = "gpu_model_bench.json"
    if "timings" in report:
        print()
        print(markdown(report))
    out = output_path(args, default_name)
    out.write_text(json.dumps(report, indent=1, default=_jsonable))
    print(f"wrote {out}", file=sys.stderr)
    return 1 if report.get("failures") and not report.get("timings") else 0


if __name__ == "__main__":
    sys.exit(main())
