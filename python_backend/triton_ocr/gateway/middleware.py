"""The gate every request passes first (plain ASGI): admission, the ``POST /ocr`` body, one log line.

In order: a ``logId`` for the request; the API key (401) when one is configured, on every path but ``/health``. For
``POST /ocr``, before any body byte is read: a fast 503 with ``Retry-After`` when the in-flight bound is full or
too many bodies are being received, 413 on a declared ``Content-Length`` over the limit, 415 on a body type that
is not JSON. Then the body is received here, within its bounds (:class:`BodyLimits`: 413 over the size, 408 past
``body_timeout_s`` or slower than ``body_min_rate_bytes_s``); a client that leaves before it has sent its body is
answered nothing and logged as 499. Only a complete body takes an in-flight slot (held up to its last response
byte), so slow senders hold receiving slots, never the in-flight ones; the app reads the body from memory. A bug
below this layer that escapes before the answer has started is answered 500 in the envelope, never bare. Then one
structured log line per request: logId, method, path, status, latency, counts and the error message if any.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from email.message import Message as MediaType
from typing import Any

from triton_ocr.errors import shown
from triton_ocr.gateway.errors import HTTPError
from triton_ocr.gateway.settings import GatewaySettings

log = logging.getLogger("triton_ocr.gateway.access")
bugs = logging.getLogger("triton_ocr.gateway")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/health"})
OCR_PATHS = frozenset({"/ocr", "/ocr/"})
API_KEY_HEADER = b"x-api-key"
CLIENT_CLOSED = 499
"""The access log's status for a request whose client left before its body had arrived (nothing is answered)."""


def error_body(log_id: str, status: int, message: str) -> bytes:
    return json.dumps({"logId": log_id, "errorCode": status, "errorMsg": message}, ensure_ascii=False).encode()


async def send_error(send: Send, log_id: str, error: HTTPError, close: bool = False) -> None:
    """Answer ``error`` in the envelope; ``close``: and close the connection rather than let uvicorn read the rest of
    the body (which it does, discarding it, for at most ``header_timeout_s``)."""
    body = error_body(log_id, error.status, error.message)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in error.headers.items()]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def is_json(content_type: str) -> bool:
    """Whether a ``Content-Type`` names JSON (``application/json`` or ``application/*+json``, any parameters)."""
    media = MediaType()
    media["content-type"] = content_type
    subtype = media.get_content_subtype()
    return media.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


class Slots:
    """A bound on requests in one state (``POST /ocr`` bodies being received; requests between a complete body
    and their last response byte): how many there are, and the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0

    def full(self) -> bool:
        return self.count >= self.limit


@dataclass(frozen=True)
class BodyLimits:
    """How a ``POST /ocr`` body must arrive: at most ``max_bytes``, within ``timeout_s`` of its headers, and after
    ``grace_s`` at an average of at least ``min_rate`` bytes/s since its headers (0: no minimum)."""

    max_bytes: int
    timeout_s: float
    min_rate: float
    grace_s: float

    @classmethod
    def of(cls, settings: GatewaySettings) -> BodyLimits:
        return cls(settings.max_body_bytes, settings.body_timeout_s, settings.body_min_rate_bytes_s,
                   settings.body_rate_grace_s)

    def rate_deadline(self, received: int) -> float:
        """How long after its headers a body of which ``received`` bytes have arrived keeps the minimum rate."""
        return self.grace_s + received / self.min_rate if self.min_rate else math.inf


class ClientGone(Exception):
    """The client closed its connection before its body had arrived."""


def replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` that gives ``body`` first, as one message, then passes on (a disconnect)."""
    pending = [body]

    async def replayed() -> Message:
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": False}
        return await receive()

    return replayed


class GatewayMiddleware:
    """See the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        api_key: bytes | None,
        in_flight: Slots,
        receiving: Slots,
        body: BodyLimits,
        retry_after_s: int,
    ) -> None:
        self.app = app
        self.api_key = api_key
        self.in_flight = in_flight
        self.receiving = receiving
        self.body = body
        self.retry_after_s = retry_after_s

    def busy(self, message: str) -> HTTPError:
        return HTTPError(503, f"{message}, retry later", {"Retry-After": str(self.retry_after_s)})

    def admission(self, scope: Scope, headers: dict[bytes, bytes], ocr: bool) -> HTTPError | None:
        """Why this request is refused before its body is read, or ``None``."""
        if self.api_key is not None and scope["path"] not in OPEN_PATHS:
            given = headers.get(API_KEY_HEADER)
            if given is None:
                return HTTPError(401, "missing X-API-Key header")
            if not hmac.compare_digest(given, self.api_key):
                return HTTPError(401, "invalid API key")
        if not ocr:
            return None
        if self.in_flight.full():
            return self.busy(f"too many requests in flight ({self.in_flight.limit})")
        if self.receiving.full():
            return self.busy(f"too many request bodies being received ({self.receiving.limit})")
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > self.body.max_bytes:
            size = shown(length.decode("ascii"), quoted=False)
            return HTTPError(413, f"the request body is {size} bytes; the limit is {self.body.max_bytes}")
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        if content_type and not is_json(content_type):
            return HTTPError(
                415, f"the body must be JSON (Content-Type: application/json), not {shown(content_type, quoted=False)}"
            )
        return None

    async def receive_body(self, receive: Receive) -> bytes:
        """The whole body within :attr:`body`'s limits (413, 408), or :class:`ClientGone`. It grows in one buffer: past
        1 MiB it is a block of its own (``GATEWAY_MALLOC_SETTINGS``), given back to the system when the body is
        dropped."""
        limits = self.body
        started = time.monotonic()
        buffer = bytearray()
        received = 0
        while True:
            by_rate = limits.rate_deadline(received)
            wait = min(limits.timeout_s, by_rate) - (time.monotonic() - started)
            try:
                message = await asyncio.wait_for(receive(), max(wait, 0.0))
            except asyncio.TimeoutError:
                elapsed = time.monotonic() - started
                if by_rate < limits.timeout_s:
                    raise HTTPError(
                        408, f"the request body arrived slower than {limits.min_rate:g} bytes/s "
                        f"(body_min_rate_bytes_s): {received} bytes in {elapsed:.1f} s"
                    ) from None
                raise HTTPError(
                    408, f"the request body took longer than {limits.timeout_s:g} s to arrive (body_timeout_s)"
                ) from None
            if message["type"] == "http.disconnect":
                raise ClientGone(f"the client closed the connection after {received} bytes of its body")
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > limits.max_bytes:
                raise HTTPError(413, f"the request body is larger than the limit of {limits.max_bytes} bytes")
            buffer += chunk
            if not message.get("more_body", False):
                return bytes(buffer)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        log_id = str(uuid.uuid4())
        state = scope.setdefault("state", {})
        state["log_id"] = log_id
        started = time.perf_counter()
        status = 0
        counted = False

        def release() -> None:
            nonlocal counted
            if counted:
                counted = False
                self.in_flight.count -= 1

        async def send_logged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                release()  # before the last byte leaves, so a client's next request finds its slot free
            await send(message)

        async def refuse(error: HTTPError, close: bool) -> None:
            state["error"] = error.message
            await send_error(send_logged, log_id, error, close)

        try:
            ocr = scope["path"] in OCR_PATHS and scope["method"] == "POST"
            refused = self.admission(scope, dict(scope["headers"]), ocr)
            if refused is not None:
                await refuse(refused, close=ocr and refused.status in (413, 503))  # no body to read, or no room
                return
            if ocr:
                self.receiving.count += 1
                try:
                    receive = replay(await self.receive_body(receive), receive)
                except HTTPError as error:  # 408: cut the slow sender off; 413: it may still be sending fast
                    await refuse(error, close=error.status == 408)
                    return
                except ClientGone as gone:
                    status, state["error"] = CLIENT_CLOSED, str(gone)
                    return
                finally:
                    self.receiving.count -= 1
                if self.in_flight.full():  # filled while this body arrived
                    await refuse(self.busy(f"too many requests in flight ({self.in_flight.limit})"), close=False)
                    return
                self.in_flight.count += 1
                counted = True
            await self.app(scope, receive, send_logged)
        except Exception as exc:
            if status:  # the answer has started: only closing the connection is left (uvicorn does)
                raise
            bugs.exception("logId %s: internal error", log_id)
            await refuse(HTTPError(500, f"internal error ({type(exc).__name__}); logId {log_id}"), close=False)
        finally:
            release()
            self.log(scope, log_id, status, started, state.get("error"))

    def log(self, scope: Scope, log_id: str, status: int, started: float, error: str | None) -> None:
        client = scope.get("client")
        record: dict[str, Any] = {
            "logId": log_id,
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "latency_ms": round((time.perf_counter() - started) * 1000, 1),
            "in_flight": self.in_flight.count,
            "receiving": self.receiving.count,
            "client": f"{client[0]}:{client[1]}" if client else None,
        }
        if error:
            record["error"] = error[:300]
        level = logging.ERROR if status >= 500 and status not in (503, 504) else logging.INFO
        log.log(level, json.dumps(record, ensure_ascii=False))
