"""Run the gateway app under uvicorn: blocking (the CLI) or in a background thread (tests, ``triton-ocr serve``).

    with GatewayServer(GatewaySettings(engine="local", port=0)) as gateway:
        httpx.post(f"{gateway.url}/ocr", json={"image": ...})

The listening socket is bound here (``port=0`` picks a free one), so :attr:`GatewayServer.url` is known before
uvicorn starts and no other process can take the port in between.
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from triton_ocr.gateway.app import create_app
from triton_ocr.gateway.backends import OCRBackend, make_backend
from triton_ocr.gateway.header_timeout import header_deadline_protocol
from triton_ocr.gateway.settings import GatewaySettings


class GatewayServer:
    """The gateway on ``settings.host:settings.port`` over ``backend`` (default: the one the settings name)."""

    def __init__(self, settings: GatewaySettings, backend: OCRBackend | None = None) -> None:
        self.settings = settings
        self.backend = backend or make_backend(
            settings.engine, settings.pipeline, settings.triton_url, settings.inference_timeout_s,
            settings.local_workers, settings.recovery_wait_s,
        )
        self.app = create_app(settings, self.backend)
        self.socket = self._bind()
        config = uvicorn.Config(
            self.app,
            http=header_deadline_protocol(settings.header_timeout_s),
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=10,
        )
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.settings.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.settings.host, self.settings.port))
        except OSError:
            sock.close()
            raise
        return sock

    @property
    def port(self) -> int:
        return self.socket.getsockname()[1]

    @property
    def url(self) -> str:
        host = self.settings.host
        host = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    def serve(self) -> None:
        """Serve in this thread until SIGINT/SIGTERM (main thread) or :meth:`stop`."""
        self.server.run(sockets=[self.socket])

    def start(self, timeout_s: float = 60.0) -> GatewayServer:
        """Serve in a background thread; return once the app has started."""
        self._thread = threading.Thread(target=self.serve, name="gateway", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the gateway did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
        self.socket.close()

    def __enter__(self) -> GatewayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
