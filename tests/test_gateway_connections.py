"""The gateway's connections (issue 15): ``POST /ocr/`` is served like ``/ocr`` (no bare 307), and a connection
whose request headers trickle in (slowloris) is closed at the header deadline, measured on a raw socket."""

from __future__ import annotations

import base64
import socket
import time

import httpx

from test_gateway_input import FakeBackend, fake_gateway, valid_png  # noqa: F401 - valid_png is a fixture


def test_ocr_with_a_trailing_slash_is_served_like_ocr(valid_png: bytes) -> None:  # noqa: F811
    body = {"image": base64.b64encode(valid_png).decode("ascii"), "visualize": False}
    with fake_gateway(FakeBackend(hold_s=1.0), max_in_flight=1) as server:
        plain = httpx.post(f"{server.url}/ocr", json=body, timeout=30)
        slash = httpx.post(f"{server.url}/ocr/", json=body, timeout=30)
        assert (plain.status_code, slash.status_code) == (200, 200)
        assert slash.json()["result"]["texts"] == plain.json()["result"]["texts"]
        with httpx.Client(timeout=30) as client:  # /ocr/ counts against the in-flight bound like /ocr
            import threading

            holder = threading.Thread(target=lambda: client.post(f"{server.url}/ocr", json=body))
            holder.start()
            time.sleep(0.3)
            refused = httpx.post(f"{server.url}/ocr/", json=body, timeout=30)
            holder.join()
        assert refused.status_code == 503
        other = httpx.get(f"{server.url}/health/", timeout=30)
        assert other.status_code == 404 and other.json()["errorCode"] == 404  # not a redirect


def closed_after(sock: socket.socket, trickle: bytes, limit_s: float) -> float | None:
    """Send ``trickle`` one byte every 0.2 s; the seconds until the server closed the connection, or ``None`` if it
    was still open after ``limit_s``."""
    started = time.monotonic()
    sock.settimeout(0.2)
    for byte in trickle:
        if time.monotonic() - started > limit_s:
            return None
        try:
            sock.send(bytes([byte]))
            if sock.recv(4096) == b"":
                return time.monotonic() - started
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - started
    return None


def test_slowloris_headers_are_cut_off_at_the_header_deadline() -> None:
    request = b"POST /ocr HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + b"X-Slow: " + b"a" * 200
    with fake_gateway(FakeBackend(), header_timeout_s=1.0, body_timeout_s=3.0) as server:
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            took = closed_after(sock, request, limit_s=6.0)
        assert took is not None and 0.9 < took < 2.0, took
        # the second request on a kept-alive connection has the same deadline, counted from the first response
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
            took = closed_after(sock, request, limit_s=6.0)
        assert took is not None and took < 2.0, took
        # complete headers are left alone: a slow body has the app's own deadline, 408
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(b"POST /ocr HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100\r\n\r\n{\"image\": ")
            time.sleep(1.5)
            sock.settimeout(6)
            assert sock.recv(4096).startswith(b"HTTP/1.1 408")
