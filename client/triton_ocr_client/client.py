"""``OCRClient`` (sync) and ``AsyncOCRClient`` (asyncio): the in-process ``predict()`` API, run on a Triton server.

    client = OCRClient.from_url("grpc://127.0.0.1:8001")
    for result in client.predict("photos/"):   # same inputs and OCRResult objects as the in-process pipeline
        result.print()

One client keeps one connection (a gRPC channel, or an HTTP connection pool) for all its requests. The sync client
sends one image at a time (a gRPC client may be shared by threads; an HTTP one may not); the async client keeps up to
``concurrency`` images in flight and still yields results in input order.

Below ``predict``, the two public steps: ``prepare(x, **overrides)`` yields one :class:`Request` per image (files and
URLs read, overrides checked), and ``infer(request, extra_outputs=...)`` sends one and returns its :class:`Reply`.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import replace
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import numpy as np

from triton_ocr.config import OCRConfig
from triton_ocr.inputs import iter_inputs, unnamed_stem
from triton_ocr.models import model_sets
from triton_ocr.models.registry import with_model_settings
from triton_ocr.paddlex_compat import split_call_kwargs
from triton_ocr.result import OCRResult
from triton_ocr.steps.image_loading import split_pages
from triton_ocr_client.errors import ModelRecoveringError, classify
from triton_ocr_client.protocol import (
    Endpoint,
    Reply,
    Request,
    check_overrides,
    infer_inputs,
    make_request,
    requested_outputs,
    to_reply,
    tritonclient_module,
    tunable_arrays,
    warn_server_side_fields,
)
from triton_ocr_client.retry import recovery_delays

Overrides = dict[str, Any]



GRPC_RECONNECT_BACKOFF_MS = (100, 1000)
"""gRPC's reconnect back-off (first, longest): its default (1 s growing to 120 s, with jitter) kept clients away
from a restarted server for ~7 s after it served again."""


def grpc_channel_args() -> list[tuple[str, int]]:
    """tritonclient's own channel options (message size unbounded, keep-alive) with a short reconnect back-off."""
    from tritonclient.grpc import KeepAliveOptions
    from tritonclient.grpc._client import MAX_GRPC_MESSAGE_SIZE

    keepalive = KeepAliveOptions()
    first, longest = GRPC_RECONNECT_BACKOFF_MS
    return [
        ("grpc.max_send_message_length", MAX_GRPC_MESSAGE_SIZE),
        ("grpc.max_receive_message_length", MAX_GRPC_MESSAGE_SIZE),
        ("grpc.keepalive_time_ms", keepalive.keepalive_time_ms),
        ("grpc.keepalive_timeout_ms", keepalive.keepalive_timeout_ms),
        ("grpc.keepalive_permit_without_calls", keepalive.keepalive_permit_without_calls),
        ("grpc.http2.max_pings_without_data", keepalive.http2_max_pings_without_data),
        ("grpc.initial_reconnect_backoff_ms", first),
        ("grpc.min_reconnect_backoff_ms", first),
        ("grpc.max_reconnect_backoff_ms", longest),
    ]

class _Client:
    """Settings and request preparation shared by both clients."""

    asynchronous = False

    def __init__(
        self,
        url: str = "grpc://127.0.0.1:8001",
        protocol: str | None = None,
        config: OCRConfig | None = None,
        timeout_s: float = 60.0,
        model_set: str | None = None,
        recovery_wait_s: float = 10.0,
    ) -> None:
        """``timeout_s``: longest wait for one answer; ``recovery_wait_s``: how long a request is sent again while
        a model it needs is being healed (:mod:`~triton_ocr_client.retry`; 0: never)."""
        self.endpoint = Endpoint.parse(url, protocol)
        self.config = config or OCRConfig()
        explicit = "model_set" in self.config.model_fields_set
        self.model_set = model_set or (self.config.model_set if explicit else None)
        """The set that reads this client's requests (``None``: the server's primary set)."""
        if self.model_set is not None:
            model_sets.model_set(self.model_set)  # an unknown name fails here, naming the known ones
        self.timeout_s = timeout_s
        self.recovery_wait_s = recovery_wait_s
        self.module = tritonclient_module(self.endpoint.protocol, self.asynchronous)
        warn_server_side_fields(self.config)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Any:
        """A client for ``grpc://HOST:PORT`` or ``http://HOST:PORT``."""
        return cls(url, **kwargs)

    @property
    def is_grpc(self) -> bool:
        return self.endpoint.protocol == "grpc"

    def connect(self) -> Any:
        """A new tritonclient client for the endpoint (the async one binds to the running event loop)."""
        if self.is_grpc:
            return self.module.InferenceServerClient(self.endpoint.address, channel_args=grpc_channel_args())
        if self.asynchronous:
            return self.module.InferenceServerClient(self.endpoint.address, conn_timeout=self.timeout_s)
        return self.module.InferenceServerClient(
            self.endpoint.address, connection_timeout=self.timeout_s, network_timeout=self.timeout_s
        )

    def _call_arguments(self, request: Request, extra_outputs: Sequence[str], deadline: float) -> dict[str, Any]:
        """Keyword arguments of tritonclient's ``infer`` for ``request``, to be answered by ``deadline``
        (``time.monotonic``; gRPC only: an HTTP client's time-out is its connection's)."""
        arguments: dict[str, Any] = {
            "model_name": request.model,
            "inputs": infer_inputs(self.module, request),
            "outputs": requested_outputs(self.module, extra_outputs),
        }
        if self.is_grpc:
            arguments["client_timeout"] = max(0.001, deadline - time.monotonic())
        return arguments

    @staticmethod
    def _pause_after(exc: Exception, pauses: Iterator[float]) -> float:
        """The pause before the next attempt after ``exc``; raises its typed error when there is none."""
        error = classify(exc)
        pause = next(pauses, None) if isinstance(error, ModelRecoveringError) else None
        if pause is None:
            raise error from exc
        return pause

    def prepare(self, x: Any, model_set: str | None = None, **overrides: Overrides) -> Iterator[Request]:
        """One request per image of ``x`` (the inputs of ``predict``) for ``model_set`` (default: the client's),
        with ``overrides`` — e.g. ``text_det={"box_thresh": 0.5}`` — as optional inputs; raises ConfigError for
        one the server cannot take (a set the server does not serve fails as the request's error)."""
        overrides = split_call_kwargs(overrides, per_call=True, where="predict()")  # PaddleX 3.x names too
        check_overrides(overrides)
        if model_set is not None:
            model_sets.model_set(model_set)  # an unknown name fails here, naming the known ones
        chosen = model_set or self.model_set
        config = self.config.with_overrides(**overrides) if overrides else self.config
        tunables = tunable_arrays(config, overrides)
        # the chosen set's settings, as the server resolves them
        reported = with_model_settings(config.for_model_set(chosen) if chosen else config)
        for input_path, source in iter_inputs(x):
            stem = unnamed_stem(source)
            for page_index, page in split_pages(source, config.image, input_path):  # a PDF: its pages as images
                request = make_request(input_path, page, config, tunables, chosen)
                yield replace(request, page_index=page_index, config=reported, stem=stem)


class OCRClient(_Client):
    """Synchronous client; ``predict(x, **overrides)`` yields one :class:`OCRResult` per image."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client = self.connect()

    def infer(self, request: Request, extra_outputs: Sequence[str] = ()) -> Reply:
        """Send one prepared request; ``extra_outputs``: names of :data:`triton_ocr.contract.OUTPUTS` beyond the
        lines. Raises a :class:`~triton_ocr_client.ClientError` subclass on failure (a model being healed: after
        ``recovery_wait_s`` of retries)."""
        deadline = time.monotonic() + self.timeout_s
        pauses = recovery_delays(self.recovery_wait_s, deadline)
        attempt = 1
        while True:
            try:
                response = self.client.infer(**self._call_arguments(request, extra_outputs, deadline))
                return to_reply(request, response, extra_outputs, attempt)
            except Exception as exc:  # noqa: BLE001 - every transport or server failure becomes a typed error
                pause = self._pause_after(exc, pauses)
            time.sleep(pause)
            attempt += 1

    def predict(self, x: Any, **overrides: Overrides) -> Iterator[OCRResult]:
        """Like the in-process ``predict``: arrays, bytes, paths, URLs, folders, ``{"img": ...}`` or lists of them.

        ``overrides`` change the per-request parameters, e.g. ``predict(x, text_det={"box_thresh": 0.5})``;
        ``model_set="PP-OCRv4_mobile"`` reads with another set the server serves.
        """
        for request in self.prepare(x, **overrides):
            yield self.infer(request).result

    __call__ = predict

    def ocr(self, image: np.ndarray | bytes, **overrides: Overrides) -> OCRResult:
        """One image (BGR array or encoded bytes)."""
        return next(self.predict(image, **overrides))

    def is_ready(self) -> bool:
        try:
            return bool(self.client.is_server_ready())
        except Exception:  # noqa: BLE001 - unreachable means not ready
            return False

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> OCRClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncOCRClient(_Client):
    """asyncio client (``tritonclient.grpc.aio`` / ``http.aio``); ``async for r in client.predict(x)``."""

    asynchronous = True

    def __init__(self, *args: Any, concurrency: int = 4, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.concurrency = concurrency
        self.client: Any = None

    async def open(self) -> None:
        """Open the connection on the running event loop (done by the first request otherwise)."""
        if self.client is None:
            self.client = self.connect()

    async def infer(self, request: Request, extra_outputs: Sequence[str] = ()) -> Reply:
        """Send one prepared request (see :meth:`OCRClient.infer`)."""
        await self.open()
        deadline = time.monotonic() + self.timeout_s
        pauses = recovery_delays(self.recovery_wait_s, deadline)
        attempt = 1
        while True:
            try:
                response = await self.client.infer(**self._call_arguments(request, extra_outputs, deadline))
                return to_reply(request, response, extra_outputs, attempt)
            except Exception as exc:  # noqa: BLE001 - every transport or server failure becomes a typed error
                pause = self._pause_after(exc, pauses)
            await asyncio.sleep(pause)
            attempt += 1

    async def _result(self, request: Request) -> OCRResult:
        return (await self.infer(request)).result

    async def predict(self, x: Any, **overrides: Overrides) -> AsyncIterator[OCRResult]:
        """Results in input order, with up to ``concurrency`` requests in flight."""
        pending: deque[asyncio.Task[OCRResult]] = deque()
        try:
            for request in self.prepare(x, **overrides):
                pending.append(asyncio.ensure_future(self._result(request)))
                if len(pending) >= self.concurrency:
                    yield await pending.popleft()
            while pending:
                yield await pending.popleft()
        finally:
            for task in pending:
                task.cancel()

    async def ocr(self, image: np.ndarray | bytes, **overrides: Overrides) -> OCRResult:
        """One image (BGR array or encoded bytes)."""
        return await self._result(next(self.prepare(image, **overrides)))

    async def is_ready(self) -> bool:
        await self.open()
        try:
            return bool(await self.client.is_server_ready())
        except Exception:  # noqa: BLE001 - unreachable means not ready
            return False

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None

    async def __aenter__(self) -> AsyncOCRClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
