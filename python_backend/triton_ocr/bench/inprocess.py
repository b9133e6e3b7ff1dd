"""In-process engines, each in a worker process of its own, driven image by image from the benchmark.

A worker holds one engine (RapidOCR; ours with the pipeline's engine, OpenVINO fp32 or ONNX Runtime, or with another
model set and precision; RapidOCR 3.10 and faster-paddle in a child process of their own, in ``.venv-reference``, see
:data:`ENGINES`) and the encoded images; asked to run image ``i`` it decodes and recognises it and answers the
seconds that took (faster-paddle decodes the file itself: it gets the encoded bytes). One process per engine keeps
each engine's peak RSS and CPU time its own (a child process's count in its worker's row) and keeps the engines and
the benchmark's client threads off each other's GIL; the driver runs one engine at a time, so interleaving them image
by image costs nothing in fairness.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from typing import Any

from triton_ocr.bench.data import BenchImage

ENGINES = {
    "rapidocr": "the reference of the pipeline's set, same weights and parameters: RapidOCR 1.4.4 for PP-OCRv4 "
    "mobile, RapidOCR 3.10.0 (rapidocr3:SET) for the others",
    "ours": "triton_ocr in-process, the pipeline's engine (default: OpenVINO bf16)",
    "ours-fp32": "triton_ocr in-process, OpenVINO fp32",
    "ours-onnxruntime": "triton_ocr in-process, ONNX Runtime",
    "ours:SET:PRECISION": "triton_ocr in-process, that model set, OpenVINO in that precision (bf16 or fp32)",
    "rapidocr3": "RapidOCR 3.10.0 with its own defaults (PP-OCRv6 small, angle classifier on), in .venv-reference",
    "rapidocr3:SET": "RapidOCR 3.10.0 with that model set's weights and our settings for it (no long-side cap, no "
    "short-side floor: RapidOCR has neither)",
    "faster-paddle": "faster-paddle 1.0.4 (MIT) with its own defaults and its bundled PP-OCRv6 small, in "
    ".venv-reference; it gets the encoded file as it is and decodes it itself",
    "faster-paddle:SIZE": "the same with its bundled PP-OCRv6 small or tiny",
}
RUNTIME_OVERRIDES = {
    "ours": {},
    "ours-fp32": {"engine": "openvino", "precision": "fp32"},
    "ours-onnxruntime": {"engine": "onnxruntime"},
}


def needs_reference_env(name: str, pipeline: str) -> bool:
    """Whether the engine ``name`` runs in ``.venv-reference`` (RapidOCR 3.10, faster-paddle)."""
    from triton_ocr.config import load_config

    kind = name.partition(":")[0]
    return kind in ("rapidocr3", "faster-paddle") or (
        kind == "rapidocr" and load_config(pipeline).model_set != "PP-OCRv4_mobile"
    )


def make_engine(name: str, pipeline: str) -> Callable[[Any], object]:
    """Encoded image bytes → lines, for the engine ``name``."""
    from triton_ocr.config import load_config
    from triton_ocr.steps.image_loading import load_image

    config = load_config(pipeline)
    if name == "rapidocr" and config.model_set != "PP-OCRv4_mobile":
        name = f"rapidocr3:{config.model_set}"  # RapidOCR 1.4.4 runs PP-OCRv4 only: the reference of newer sets
    kind, _, variant = name.partition(":")
    threads = config.runtime.intra_op_threads or 2
    if kind == "faster-paddle":  # it decodes the file itself: the encoded bytes go over as they are
        from triton_ocr.eval.faster_paddle_process import FasterPaddleProcess

        return FasterPaddleProcess(variant or "small", threads).ocr_encoded
    if kind == "rapidocr3":
        from triton_ocr.eval.rapidocr3_process import RapidOCR3Process
        from triton_ocr.eval.rapidocr3_reference import reference_params

        params = reference_params(config.with_overrides(model_set=variant)) if variant else None
        engine: Callable[[Any], object] = RapidOCR3Process(params, threads).ocr
    elif kind == "ours" and variant:
        from triton_ocr.pipeline import OCRPipeline

        model_set, _, precision = variant.partition(":")
        runtime = {"engine": "openvino", "precision": precision}
        engine = OCRPipeline(config.with_overrides(model_set=model_set, runtime=runtime)).ocr
    elif name == "rapidocr":
        from triton_ocr.eval.rapidocr_reference import RapidOCRReference

        engine = RapidOCRReference(config)
    elif name in RUNTIME_OVERRIDES:
        from triton_ocr.pipeline import OCRPipeline

        engine = OCRPipeline(config.with_overrides(runtime=RUNTIME_OVERRIDES[name])).ocr
    else:
        raise ValueError(f"unknown in-process engine {name!r}: use one of {', '.join(ENGINES)}")
    limits = config.image
    return lambda data: engine(load_image(data, limits))


def peak_rss() -> int:
    """Peak resident set size in bytes of this process plus that of each of its child processes (an engine in
    ``.venv-reference``): a sum of peaks, so at most the group's true peak."""
    from triton_ocr.bench.processes import fixed_processes, peak_memory

    return sum(peak_memory(fixed_processes(worker=os.getpid())).values())


def worker(connection: Any, name: str, pipeline: str, images: list[bytes]) -> None:
    """Worker loop: ``("run", i)`` → seconds, ``("rss",)`` → peak RSS bytes, ``("stop",)`` ends it."""
    try:
        engine = make_engine(name, pipeline)
        engine(images[0])  # warm-up: first-call allocations and graph preparation
    except Exception as exc:  # noqa: BLE001 - reported to the driver, which fails the run
        connection.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    connection.send(("ready", peak_rss()))
    while True:
        message = connection.recv()
        if message[0] == "run":
            started = time.perf_counter()
            engine(images[message[1]])
            connection.send(("done", time.perf_counter() - started))
        elif message[0] == "rss":
            connection.send(("rss", peak_rss()))
        else:
            return


class EngineWorker:
    """The driver's handle on one engine's worker process."""

    def __init__(self, name: str, pipeline: str, images: list[BenchImage]) -> None:
        self.name = name
        self.index = {image.name: position for position, image in enumerate(images)}
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(
            target=worker, args=(child, name, pipeline, [image.data for image in images]), name=f"bench-{name}"
        )
        self.process.start()
        child.close()

    def wait_ready(self) -> None:
        kind, value = self.connection.recv()
        if kind != "ready":
            raise RuntimeError(f"engine {self.name} failed to start: {value}")

    def run(self, image: BenchImage) -> float:
        """Seconds the engine took to decode and recognise ``image``."""
        self.connection.send(("run", self.index[image.name]))
        kind, value = self.connection.recv()
        assert kind == "done", (kind, value)
        return value

    def peak_rss(self) -> int:
        self.connection.send(("rss",))
        return self.connection.recv()[1]

    def stop(self) -> None:
        try:
            self.connection.send(("stop",))
        except OSError:
            pass
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
