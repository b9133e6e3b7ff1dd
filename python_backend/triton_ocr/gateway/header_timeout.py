"""A deadline for each request's headers: uvicorn's h11 protocol waits for ever for a request line and headers that
arrive one byte at a time (slowloris: a few hundred such connections hold every file descriptor), so this subclass
closes a connection whose request has not finished its headers ``header_timeout_s`` after the connection opened, or
after the previous response on it. A request whose headers are complete is left alone: its body has the app's own
deadline (``body_timeout_s``, 408).
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("triton_ocr.gateway")


class HeaderDeadlineProtocol(H11Protocol):
    """:class:`H11Protocol` with a header deadline of :attr:`header_timeout_s` seconds (set by
    :func:`header_deadline_protocol`)."""

    header_timeout_s: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._header_deadline: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm_header_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_deadline()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        """Start the clock for the next request's headers, unless one is already being served (pipelined)."""
        self._cancel_header_deadline()
        if self.transport.is_closing() or (self.cycle is not None and not self.cycle.response_complete):
            return
        self._header_deadline = self.loop.call_later(self.header_timeout_s, self._headers_too_slow, self.cycle)

    def _cancel_header_deadline(self) -> None:
        if getattr(self, "_header_deadline", None) is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self, cycle_when_armed: object) -> None:
        self._header_deadline = None
        if self.cycle is cycle_when_armed and not self.transport.is_closing():  # no request started since
            log.info("closing a connection from %s: no complete request headers within %g s",
                     self.client, self.header_timeout_s)
            self.transport.close()


def header_deadline_protocol(header_timeout_s: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class for ``uvicorn.Config(http=...)`` with this header deadline."""
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"header_timeout_s": header_timeout_s})
