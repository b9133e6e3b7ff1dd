"""``triton-ocr serve`` as a user runs it: Triton and the gateway in supervised processes of their own, each
restarted when it dies (readiness says so meanwhile), Triton's HTTP frontend closed, everything ended by SIGTERM."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import psutil
import pytest
from triton_fixtures import text_image

from triton_ocr.serving.server.launcher import free_ports

pytestmark = pytest.mark.triton


def wait_for(condition, timeout_s: float, what: str) -> float:  # noqa: ANN001 - a callable returning bool
    """Seconds until ``condition()`` holds; AssertionError naming ``what`` after ``timeout_s``."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout_s, f"{what}: not within {timeout_s:g} s"
        time.sleep(0.2)
    return time.monotonic() - start


def status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=30).status_code
    except httpx.HTTPError:
        return None


def child(serve: psutil.Process, marker: str) -> psutil.Process:
    """The process among ``serve``'s children whose command line holds ``marker``."""
    (found,) = [p for p in serve.children() if marker in " ".join(p.cmdline())]
    return found


@pytest.fixture(scope="module")
def serve(tmp_path_factory):
    port, grpc, http, metrics = free_ports(4)
    log = (tmp_path_factory.mktemp("serve") / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "triton_ocr.cli", "serve", "--models", "PP-OCRv6_small", "--port", str(port),
         "--grpc-port", str(grpc), "--http-port", str(http), "--metrics-port", str(metrics),
         "--health-interval", "1"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: process.poll() is not None or status(f"{url}/health/ready") == 200, 300, "serve ready")
        assert process.poll() is None, open(log.name).read()[-3000:]
        yield process, url, http
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        finally:
            process.kill()
            log.close()


def ocr(url: str) -> list[str]:
    body = {"image": base64.b64encode(text_image(2, lines=2)).decode(), "visualize": False}
    answer = httpx.post(f"{url}/ocr", json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    return [line["text"] for line in answer.json()["result"]["texts"]]


def test_tritons_http_frontend_is_closed(serve):
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", serve[2]), timeout=5).close()


def test_a_killed_gateway_comes_back(serve):
    process, url, _ = serve
    expected = ocr(url)
    gateway = child(psutil.Process(process.pid), " gateway ")
    gateway.kill()
    wait_for(lambda: status(f"{url}/health") is None, 5, "the gateway's port closed (not ready) meanwhile")
    seconds = wait_for(lambda: status(f"{url}/health/ready") == 200, 30, "the gateway back")
    print(f"gateway back and ready {seconds:.1f} s after its kill")
    assert child(psutil.Process(process.pid), " gateway ").pid != gateway.pid
    assert ocr(url) == expected


def test_a_killed_triton_comes_back_and_readiness_says_so_meanwhile(serve):
    process, url, _ = serve
    expected = ocr(url)
    triton = child(psutil.Process(process.pid), "tritonserver")
    triton.kill()
    started = time.monotonic()
    wait_for(lambda: status(f"{url}/health/ready") == 503, 30, "readiness reporting Triton down")
    print(f"readiness said 503 {time.monotonic() - started:.1f} s after the kill")
    seconds = wait_for(lambda: status(f"{url}/health/ready") == 200, 120, "Triton back")
    print(f"Triton back and the gateway ready {seconds:.1f} s after the 503")
    assert ocr(url) == expected


def test_sigterm_ends_serve_and_both_children(tmp_path):
    port, grpc, http, metrics = free_ports(4)
    process = subprocess.Popen(
        [sys.executable, "-m", "triton_ocr.cli", "serve", "--models", "PP-OCRv6_small", "--no-triton",
         "--triton-url", f"grpc://127.0.0.1:{grpc}", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        wait_for(lambda: status(f"http://127.0.0.1:{port}/health") == 200, 120, "the gateway up")
        children = psutil.Process(process.pid).children(recursive=True)
        assert children
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        _, alive = psutil.wait_procs(children, timeout=20)
        assert not alive, alive
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
