"""Hostile PDFs (:mod:`triton_ocr.bench.hostile_pdfs`) through ``POST /ocr`` of a local-engine gateway: each gets
its 4xx naming the limit and its field within its limits, four at once leave image requests served, the gateway
survives and keeps no renderer behind; the renderer's CPU limit and a crash are typed errors too. Limits are small
here so that the file runs in seconds; ``python -m triton_ocr.bench.pdf_pressure`` measures the defaults."""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil
import pytest
from imagegen import encode, render_lines

from triton_ocr.bench.hostile_pdfs import CONTROL_TEXTS, HOSTILE_PDFS, control_pdf, nested_forms
from triton_ocr.config import ImageConfig
from triton_ocr.errors import ImageTooLargeError, InvalidImageError
from triton_ocr.gateway import GatewayServer, GatewaySettings, LocalBackend
from triton_ocr.steps.pdf_worker import PdfWorker, pdf_pages

LIMITS = {"pdf_max_memory_mb": 384, "pdf_max_cpu_s": 10, "pdf_timeout_s": 20.0}
OVER_MEMORY = (413, "file: the PDF needs more than 384 MB to render; the limit is image.pdf_max_memory_mb")
EXPECTED = {
    "forms_1e7": OVER_MEMORY,
    "forms_1e8": OVER_MEMORY,
    "flate_bomb": OVER_MEMORY,
    "huge_pages": (413, "file: the PDF's 10 pages read would render at 399424000 pixels in all (144 dpi); the limit "
                   "is 100000000 (image.pdf_max_total_pixels)"),
    "page_tree_loop": (422, "file: the PDF page 2 cannot be read (a damaged page tree?): Failed to get page size by "
                       "index."),
}
ANSWER_WITHIN_S = 10.0  # each takes ~1 s alone on 2 cores


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def gateway(pipeline, limits: dict, **settings) -> GatewayServer:
    config = pipeline.config.with_overrides(image=limits)
    return GatewayServer(GatewaySettings(engine="local", port=0, cpu_workers=2, **settings),
                         LocalBackend(config, pipeline=pipeline))


@pytest.fixture(scope="module")
def client(pipeline) -> Iterator[httpx.Client]:
    with gateway(pipeline, LIMITS, pdf_workers=4) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def post_pdf(client: httpx.Client, data: bytes) -> tuple[int, str, float]:
    started = time.monotonic()
    response = client.post("/ocr", json={"file": b64(data), "fileType": 0, "visualize": False})
    body = response.json()
    assert body["errorCode"] == response.status_code
    return response.status_code, body["errorMsg"], time.monotonic() - started


def pdf_renderers() -> list[int]:
    """The PDF renderers this process has running (or not reaped)."""
    found = []
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            if "pdf_worker" in " ".join(child.cmdline()):
                found.append(child.pid)
    return found


@pytest.mark.parametrize("name", sorted(HOSTILE_PDFS))
def test_each_hostile_pdf_gets_a_4xx_naming_its_limit(client, name):
    status, message, elapsed = post_pdf(client, HOSTILE_PDFS[name]())
    assert (status, message) == EXPECTED[name]
    assert elapsed < ANSWER_WITHIN_S
    assert client.get("/health").status_code == 200


def test_a_valid_pdf_reads_every_page(client):
    body = client.post("/ocr", json={"file": b64(control_pdf()), "visualize": False}).json()
    assert [page["prunedResult"]["rec_texts"] for page in body["result"]["ocrResults"]] == [[t] for t in CONTROL_TEXTS]
    assert body["result"]["dataInfo"] == {"numPages": 3, "pages": [{"width": 720, "height": 120}] * 3, "type": "pdf",
                                          "numPagesRead": 3}
    assert body["result"]["warnings"] == []


def test_four_hostile_pdfs_at_once_leave_image_requests_answered(client):
    image = {"image": b64(encode(render_lines(["Still here 42"], size=(300, 80), font_size=28, origin=(10, 20)))),
             "visualize": False}
    assert client.post("/ocr", json=image).status_code == 200  # the engine warmed up before the RSS is read
    rss_before = psutil.Process().memory_info().rss
    names = ["forms_1e8", "forms_1e8", "forms_1e7", "flate_bomb"]
    with ThreadPoolExecutor(4) as pool:
        attacks = [pool.submit(post_pdf, client, HOSTILE_PDFS[name]()) for name in names]
        answered = []
        while not all(attack.done() for attack in attacks):
            response = client.post("/ocr", json=image)
            answered.append((response.status_code, [t["text"] for t in response.json()["result"]["texts"]]))
    assert [attack.result()[:2] for attack in attacks] == [OVER_MEMORY] * 4
    assert len(answered) >= 2 and all(answer == (200, ["Still here 42"]) for answer in answered)
    assert client.get("/health").status_code == 200
    assert psutil.Process().memory_info().rss - rss_before < 100 << 20  # the PDFs' GBs stayed in their renderers
    assert pdf_renderers() == []


def test_pdfs_beyond_pdf_workers_get_503_and_a_slow_one_its_time_limit(pipeline):
    with gateway(pipeline, {"pdf_max_memory_mb": 2048, "pdf_timeout_s": 1.0}, pdf_workers=1) as server, \
            httpx.Client(base_url=server.url, timeout=60) as client, ThreadPoolExecutor(1) as pool:
        slow = pool.submit(post_pdf, client, HOSTILE_PDFS["forms_1e8"]())
        slots = server.app.state.gateway.pdf_slots
        while not slots.locked() and not slow.done():
            time.sleep(0.01)
        response = client.post("/ocr", json={"file": b64(control_pdf())})
        assert (response.status_code, response.headers["Retry-After"]) == (503, "1")
        assert response.json()["errorMsg"] == "1 PDFs are being rendered (pdf_workers), retry later"
        assert slow.result()[:2] == (413, "file: the PDF took longer than 1 s to render; the limit is "
                                          "image.pdf_timeout_s")


def test_the_cpu_limit_and_a_crash_are_typed_errors():
    with pytest.raises(ImageTooLargeError, match=r"^x.pdf needs more than 1 s of CPU to render; the limit is "
                       r"image.pdf_max_cpu_s$"):
        list(pdf_pages(nested_forms(8), ImageConfig(pdf_max_memory_mb=4096, pdf_max_cpu_s=1), "x.pdf"))
    with PdfWorker(nested_forms(8), ImageConfig(pdf_max_memory_mb=4096), "x.pdf") as pdf:  # sizes read: rendering
        os.kill(pdf.process.pid, signal.SIGSEGV)
        with pytest.raises(InvalidImageError, match=r"^x.pdf crashed the PDF renderer \(SIGSEGV\)$"):
            pdf.next_page()
