"""The engine seam: where the gateway's inferences run.

:class:`TritonBackend` sends the encoded image to a Triton server through one shared
:class:`~triton_ocr_client.AsyncOCRClient` (one gRPC channel for every request); :class:`LocalBackend` runs the
in-process :class:`~triton_ocr.pipeline.OCRPipeline` in a bounded thread pool. Both take the request's encoded
bytes and its decoded BGR pixels (each uses the one it needs) and return the lines and the detector's input size.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from triton_ocr.config import OCRConfig, load_config
from triton_ocr.result import OCRResult
from triton_ocr import contract
from triton_ocr.steps.det_resize import det_input_size
from triton_ocr.steps.image_loading import decode_image

Overrides = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Recognition:
    """One image's lines (an :class:`OCRResult` without its picture) and the (height, width) the detector saw
    before any padding (``None`` when the engine does not say)."""

    result: OCRResult
    det_input_size: tuple[int, int] | None


class OCRBackend(Protocol):
    """What the gateway needs from an engine. ``config`` is the pipeline config: image limits and defaults."""

    name: str
    config: OCRConfig
    adjustable: frozenset[str]
    """The per-request parameters (:data:`~triton_ocr.contract.REQUEST_FIELDS`, by their Python name) this engine
    changes per request; a request setting another is refused, naming it."""

    async def start(self) -> None: ...

    async def serving(self) -> bool:
        """A cheap health check (no inference): the engine is up with its models loaded."""
        ...

    needs_pixels: bool
    """Whether :meth:`recognise` needs ``image``; else it gets ``None`` unless the gateway decoded it anyway."""

    async def recognise(self, encoded: bytes, image: np.ndarray | None, overrides: Overrides) -> Recognition:
        """``encoded``: the image file; ``image``: the same image decoded, BGR uint8 (H, W, 3), or ``None``."""
        ...

    async def close(self) -> None: ...


class TritonBackend:
    """Inference on a Triton server (``grpc://`` or ``http://``); the encoded image travels, not its pixels."""

    name = "triton"
    needs_pixels = False
    adjustable = frozenset(field.python for field in contract.REQUEST_FIELDS if field.triton is not None)

    def __init__(self, url: str, config: OCRConfig | None = None, timeout_s: float = 60.0,
                 recovery_wait_s: float = 10.0) -> None:
        from triton_ocr_client import AsyncOCRClient

        self.config = config or OCRConfig()
        self.url = url
        self.client = AsyncOCRClient.from_url(url, config=self.config, timeout_s=timeout_s,
                                              recovery_wait_s=recovery_wait_s)

    async def start(self) -> None:
        # tritonclient's asyncio channel binds to the running loop: open it here, once, for every request.
        await self.client.open()

    async def serving(self) -> bool:
        return await self.client.is_ready()

    async def recognise(self, encoded: bytes, image: np.ndarray | None, overrides: Overrides) -> Recognition:
        request = next(self.client.prepare(encoded if encoded is not None else image, **overrides))  # a PDF page
        reply = await self.client.infer(request, extra_outputs=(contract.DET_INPUT_SIZE,))
        size = reply.outputs[contract.DET_INPUT_SIZE]
        det_size = (int(size.reshape(-1)[0]), int(size.reshape(-1)[1])) if size is not None else None
        return Recognition(reply.result, det_size)

    async def close(self) -> None:
        await self.client.close()


class LocalBackend:
    """Inference in this process, ``workers`` images at a time, off the event loop."""

    name = "local"
    needs_pixels = True
    adjustable = frozenset(field.python for field in contract.REQUEST_FIELDS)

    def __init__(self, config: OCRConfig | None = None, pipeline: Any = None, workers: int = 1) -> None:
        """``pipeline``: an :class:`~triton_ocr.pipeline.OCRPipeline` to share (default: one built from
        ``config``); ``config``: the per-request base config (default: the pipeline's effective config)."""
        from triton_ocr.pipeline import OCRPipeline

        self.pipeline = pipeline if pipeline is not None else OCRPipeline(config or OCRConfig())
        self.config: OCRConfig = config if pipeline is not None and config is not None else self.pipeline.config
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="gateway-ocr")

    async def start(self) -> None:
        return None

    async def serving(self) -> bool:
        return True

    async def recognise(self, encoded: bytes, image: np.ndarray | None, overrides: Overrides) -> Recognition:
        overrides = dict(overrides)
        pipeline = self.pipeline.with_model_set(overrides.pop("model_set", None))
        base = self.config if pipeline is self.pipeline else pipeline.config
        cfg = base.with_overrides(**overrides) if overrides else base
        if image is None:
            image = await asyncio.get_running_loop().run_in_executor(self.pool, decode_image, encoded, cfg.image)
        lines = await asyncio.get_running_loop().run_in_executor(self.pool, pipeline.ocr, image, cfg)
        size = det_input_size(image.shape[0], image.shape[1], cfg.text_det)
        return Recognition(OCRResult(None, lines, config=cfg), size)

    async def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def make_backend(engine: str, pipeline: str = "OCR", triton_url: str = "grpc://127.0.0.1:8001",
                 timeout_s: float = 60.0, local_workers: int = 1, recovery_wait_s: float = 10.0) -> OCRBackend:
    """The backend a :class:`~triton_ocr.gateway.settings.GatewaySettings` names."""
    config = load_config(pipeline)
    if engine == "triton":
        return TritonBackend(triton_url, config, timeout_s, recovery_wait_s)
    if engine == "local":
        return LocalBackend(config, workers=local_workers)
    raise ValueError(f"unknown engine {engine!r}: use triton or local")
