"""The HTTP gateway as a supervised process of its own, for ``triton-ocr serve``.

The gateway decodes untrusted images and PDFs: whatever kills it must not take Triton or the supervisor with it.
:class:`SupervisedGateway` runs ``triton-ocr gateway`` as a child (ended with its parent), and a thread restarts it
whenever it exits, waiting :data:`RESTART_BACKOFF_S` (doubling up to :data:`MAX_BACKOFF_S` while it keeps dying
within :data:`STABLE_AFTER_S` of its start). Meanwhile its port refuses connections, so every load balancer's and
prober's readiness check sees it down; once back, ``/health/ready`` answers for Triton as before.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

import httpx

from triton_ocr.heap import GATEWAY_MALLOC_SETTINGS
from triton_ocr.serving.server.launcher import die_with_parent
from triton_ocr.subprocesses import end_process

log = logging.getLogger(__name__)

RESTART_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0
STABLE_AFTER_S = 60.0
POLL_S = 0.2


class SupervisedGateway:
    """``triton-ocr gateway ARGS`` on ``host:port``, kept running until :meth:`stop`."""

    def __init__(self, host: str, port: int, arguments: Sequence[str]) -> None:
        self.host, self.port = host, port
        self.command = [sys.executable, "-m", "triton_ocr.cli", "gateway", "--host", host, "--port", str(port),
                        *arguments]
        self.process: subprocess.Popen | None = None
        self.restarts = 0
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _launch(self) -> None:
        self.process = subprocess.Popen(
            self.command, env={**GATEWAY_MALLOC_SETTINGS, **os.environ, "PYTHONUNBUFFERED": "1"}, stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        log.info("gateway pid %d on %s", self.process.pid, self.url)

    def start(self, timeout_s: float = 120.0) -> SupervisedGateway:
        """Launch the gateway, return once ``/health`` answers, and keep it running from then on."""
        self._launch()
        self.wait_up(timeout_s)
        self._watcher = threading.Thread(target=self._watch, name="gateway-supervisor", daemon=True)
        self._watcher.start()
        return self

    def wait_up(self, timeout_s: float) -> None:
        """Return once the gateway answers ``GET /health``; RuntimeError if it exits or does not in time."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"the gateway exited with code {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/health", timeout=5).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(POLL_S)
        raise RuntimeError(f"the gateway did not answer within {timeout_s:.0f} s")

    def _watch(self) -> None:
        backoff = RESTART_BACKOFF_S
        started = time.monotonic()
        while not self._stopping.wait(POLL_S):
            assert self.process is not None
            code = self.process.poll()
            if code is None:
                continue
            backoff = RESTART_BACKOFF_S if time.monotonic() - started > STABLE_AFTER_S else min(backoff * 2, MAX_BACKOFF_S)
            log.error("the gateway exited with code %s; restarting it in %.1f s", code, backoff)
            if self._stopping.wait(backoff):
                return
            self.restarts += 1
            started = time.monotonic()
            self._launch()

    def stop(self) -> None:
        """Stop supervising, then end the gateway (SIGTERM, SIGKILL after 15 s)."""
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join()
        if self.process is not None:
            end_process(self.process, grace_s=15)
