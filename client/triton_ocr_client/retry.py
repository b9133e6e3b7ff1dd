"""Waiting out a model that heals: when a stub dies, the server's supervisor reloads its model, and requests that
reach it meanwhile fail with :class:`~triton_ocr_client.errors.ModelRecoveringError`. OCR is idempotent, so the
clients send such a request again, with a growing back-off, for up to ``recovery_wait_s`` seconds (and never past
the request's own time-out); every other error is raised at once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

FIRST_DELAY_S = 0.25
LONGEST_DELAY_S = 2.0
"""Back-off between attempts: 0.25, 0.5, 1, 2, 2, ... s (each ±20 % so that many clients do not return at once).
A reload takes 1–5 s on a 2-core machine (docs/reliability.md)."""


def recovery_delays(wait_s: float, deadline: float) -> Iterator[float]:
    """The pauses before each further attempt: as long as the next pause ends within ``wait_s`` of the first
    attempt and before ``deadline`` (``time.monotonic``); the caller stops retrying when it ends."""
    start = time.monotonic()
    delay = FIRST_DELAY_S
    while True:
        pause = delay * random.uniform(0.8, 1.2)
        until = time.monotonic() + pause
        if until > start + wait_s or until > deadline:
            return
        yield pause
        delay = min(2 * delay, LONGEST_DELAY_S)
