"""The gate every request passes first (plain ASGI, before any body is read).

In order: a ``logId`` for the request; the API key (401) when one is configured, on every path but ``/health``;
for ``POST /ocr``, the in-flight bound (a fast 503 with ``Retry-After``, never a queue) and the declared
``Content-Length`` (413 before reading). Then one structured log line per request: logId, method, path, status,
latency and the error message if any.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from triton_ocr.gateway.errors import HTTPError

log = logging.getLogger("triton_ocr.gateway.access")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/health"})
OCR_PATHS = frozenset({"/ocr", "/ocr/"})
API_KEY_HEADER = b"x-api-key"


def error_body(log_id: str, status: int, message: str) -> bytes:
    return json.dumps({"logId": log_id, "errorCode": status, "errorMsg": message}, ensure_ascii=False).encode()


async def send_error(send: Send, log_id: str, error: HTTPError, close: bool = False) -> None:
    """Answer ``error`` in the envelope; ``close`` when the request body is left unread."""
    body = error_body(log_id, error.status, error.message)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in error.headers.items()]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class InFlight:
    """How many ``POST /ocr`` requests are between admission and their last response byte, and the bound."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0

    def full(self) -> bool:
        return self.count >= self.limit


class GatewayMiddleware:
    """See the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        api_key: bytes | None,
        in_flight: InFlight,
        max_body_bytes: int,
        retry_after_s: int,
    ) -> None:
        self.app = app
        self.api_key = api_key
        self.in_flight = in_flight
        self.max_body_bytes = max_body_bytes
        self.retry_after_s = retry_after_s

    def admission(self, scope: Scope, headers: dict[bytes, bytes]) -> HTTPError | None:
        """Why this request is refused before it runs, or ``None``."""
        if self.api_key is not None and scope["path"] not in OPEN_PATHS:
            given = headers.get(API_KEY_HEADER)
            if given is None:
                return HTTPError(401, "missing X-API-Key header")
            if not hmac.compare_digest(given, self.api_key):
                return HTTPError(401, "invalid API key")
        if scope["path"] in OCR_PATHS and scope["method"] == "POST":
            if self.in_flight.full():
                return HTTPError(
                    503,
                    f"too many requests in flight ({self.in_flight.limit}), retry later",
                    {"Retry-After": str(self.retry_after_s)},
                )
            length = headers.get(b"content-length", b"")
            if length.isdigit() and int(length) > self.max_body_bytes:
                return HTTPError(
                    413, f"the request body is {int(length)} bytes; the limit is {self.max_body_bytes}"
                )
        return None

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

        try:
            headers = dict(scope["headers"])
            refused = self.admission(scope, headers)
            if refused is not None:
                state["error"] = refused.message
                await send_error(send_logged, log_id, refused, close=refused.status == 413)
                return
            if scope["path"] in OCR_PATHS and scope["method"] == "POST":
                self.in_flight.count += 1
                counted = True
            await self.app(scope, receive, send_logged)
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
            "client": f"{client[0]}:{client[1]}" if client else None,
        }
        if error:
            record["error"] = error[:300]
        level = logging.ERROR if status >= 500 and status not in (503, 504) else logging.INFO
        log.log(level, json.dumps(record, ensure_ascii=False))
