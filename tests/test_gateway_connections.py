"""The gateway's connections (issue 15): ``POST /ocr/`` is served like ``/ocr`` (no bare 307), a connection whose
request headers trickle in (slowloris) is closed at the header deadline, slow bodies hold no in-flight slot and are
cut below the minimum rate, and a client that leaves mid-body is a 499 in the log, not a server error; measured on
raw sockets."""

from __future__ import annotations

import base64
import json
import logging
import selectors
import socket
import threading
import time

import httpx
import pytest

from test_gateway_input import FakeBackend, fake_gateway, valid_png  # noqa: F401 - valid_png is a fixture


def test_ocr_with_a_trailing_slash_is_served_like_ocr(valid_png: bytes) -> None:  # noqa: F811
    body = {"image": base64.b64encode(valid_png).decode("ascii"), "visualize": False}
    with fake_gateway(FakeBackend(hold_s=1.0), max_in_flight=1) as server:
        plain = httpx.post(f"{server.url}/ocr", json=body, timeout=30)
        slash = httpx.post(f"{server.url}/ocr/", json=body, timeout=30)
        assert (plain.status_code, slash.status_code) == (200, 200)
        assert slash.json()["result"]["texts"] == plain.json()["result"]["texts"]
        with httpx.Client(timeout=30) as client:  # /ocr/ counts against the in-flight bound like /ocr
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


SLOW_HEAD = (b"POST /ocr HTTP/1.1\r\nHost: g\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
             b'{"image": "')


def wait_for(condition, limit_s: float = 10.0) -> None:  # noqa: ANN001 - a callable returning bool
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def slow_bodies(port: int, count: int) -> list[socket.socket]:
    """``count`` connections, each with its headers and the first bytes of a 1000-byte body sent."""
    sockets = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]
    for sock in sockets:
        sock.sendall(SLOW_HEAD)
        sock.setblocking(False)
    return sockets


def trickle_until_answered(sockets: list[socket.socket], limit_s: float) -> dict[socket.socket, tuple[float, bytes]]:
    """Send one more byte on each unanswered socket every second (~1 byte/s) until the server closes each one (or
    ``limit_s`` has passed): what each received, and when its first bytes came (``time.monotonic()``)."""
    started = time.monotonic()
    answers: dict[socket.socket, tuple[float, bytes]] = {}
    closed: set[socket.socket] = set()
    with selectors.DefaultSelector() as selector:
        for sock in sockets:
            selector.register(sock, selectors.EVENT_READ)
        next_byte = started + 1.0
        while len(closed) < len(sockets) and time.monotonic() - started < limit_s:
            for key, _ in selector.select(timeout=0.05):
                sock = key.fileobj
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    data = b""
                when, before = answers.get(sock, (time.monotonic(), b""))
                answers[sock] = (when, before + data)
                if not data:
                    closed.add(sock)
                    selector.unregister(sock)
            if time.monotonic() >= next_byte:
                next_byte += 1.0
                for sock in sockets:
                    if sock not in answers:
                        try:
                            sock.send(b"A")
                        except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                            pass
    return answers


def test_slow_bodies_hold_no_in_flight_slot_and_are_cut_below_the_minimum_rate(valid_png: bytes) -> None:  # noqa: F811
    """As many bodies as ``max_in_flight`` (64) trickling in at ~1 byte/s: complete requests are still served at
    once, and the slow ones get 408 naming the rate and its setting when the grace period is over."""
    body = {"image": base64.b64encode(valid_png).decode("ascii"), "visualize": False}
    grace_s = 2.0
    with fake_gateway(FakeBackend(), body_rate_grace_s=grace_s, body_min_rate_bytes_s=100, body_timeout_s=10) as server:
        gateway = server.app.state.gateway
        opened = time.monotonic()
        slow = slow_bodies(server.port, server.settings.max_in_flight)
        try:
            wait_for(lambda: gateway.receiving.count == len(slow))
            with httpx.Client(timeout=10) as client:
                for _ in range(5):
                    started = time.monotonic()
                    response = client.post(f"{server.url}/ocr", json=body)
                    assert response.status_code == 200, response.text
                    assert time.monotonic() - started < 1.0
            assert gateway.receiving.count == len(slow)  # served while every slow body was still arriving
            answers = trickle_until_answered(slow, limit_s=grace_s + 4)
        finally:
            for sock in slow:
                sock.close()
        assert len(answers) == len(slow)
        for data in [data for _, data in answers.values()]:
            assert data.startswith(b"HTTP/1.1 408"), data
            assert b"slower than 100 bytes/s (body_min_rate_bytes_s)" in data, data
        cut_after = sorted(when - opened for when, _ in answers.values())
        assert grace_s - 0.1 < cut_after[0] and cut_after[-1] < grace_s + 2.0, cut_after
        assert (gateway.receiving.count, gateway.in_flight.count) == (0, 0)
        assert httpx.post(f"{server.url}/ocr", json=body, timeout=10).status_code == 200


def test_bodies_beyond_the_receiving_bound_get_a_fast_503(valid_png: bytes) -> None:  # noqa: F811
    body = {"image": base64.b64encode(valid_png).decode("ascii"), "visualize": False}
    with fake_gateway(FakeBackend(), max_receiving_bodies=2, body_rate_grace_s=1.5, body_min_rate_bytes_s=100,
                      retry_after_s=2) as server:
        gateway = server.app.state.gateway
        slow = slow_bodies(server.port, 2)
        try:
            wait_for(lambda: gateway.receiving.count == 2)
            started = time.monotonic()
            refused = httpx.post(f"{server.url}/ocr", json=body, timeout=10)
            assert time.monotonic() - started < 1.0
            assert refused.status_code == 503 and refused.headers["Retry-After"] == "2"
            assert "too many request bodies being received (2)" in refused.json()["errorMsg"]
            assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200
            answers = trickle_until_answered(slow, limit_s=4)
        finally:
            for sock in slow:
                sock.close()
        assert [data[:12] for _, data in answers.values()] == [b"HTTP/1.1 408"] * 2
        assert httpx.post(f"{server.url}/ocr", json=body, timeout=10).status_code == 200


def test_a_client_that_leaves_mid_body_is_a_499_not_a_server_error(
    valid_png: bytes, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    caplog.set_level(logging.INFO)
    with fake_gateway(FakeBackend()) as server:
        gateway = server.app.state.gateway
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(SLOW_HEAD + b"A" * 489)  # 500 of the 1000 bytes announced
            wait_for(lambda: gateway.receiving.count == 1)
        access = []

        def logged() -> bool:
            access[:] = [json.loads(r.getMessage()) for r in caplog.records if r.name == "triton_ocr.gateway.access"]
            return bool(access)

        wait_for(logged)
        assert access[0]["status"] == 499 and "closed the connection after 500 bytes" in access[0]["error"]
        assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
        assert (gateway.receiving.count, gateway.in_flight.count) == (0, 0)
        body = {"image": base64.b64encode(valid_png).decode("ascii")}
        assert httpx.post(f"{server.url}/ocr", json=body, timeout=10).status_code == 200
