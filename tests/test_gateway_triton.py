"""The real gateway (``triton-ocr gateway --engine triton`` in a subprocess) in front of a real Triton server.

One Triton server (:class:`triton_ocr.serving.server.TritonServer` on free ports) and one gateway process serve the
whole module; the gateway is stopped by its PID. Checked: PaddleX's envelope and field types, ``maxLongSide``
(through the ``X-Det-Input-Size`` header), ``visualize: false``, equality with the in-process pipeline on real
photos, bad input on this engine, and 64 concurrent clients each getting the text of its own image. Beside it, an
in-process gateway on the local engine: every request field, the orientation switches and a non-primary set's
reported parameters are checked on both engines.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import re
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from imagegen import encode, png_header, render_lines
from triton_fixtures import start_server
from triton_ocr.config import OCRConfig
from triton_ocr.gateway import GatewayServer, GatewaySettings, LocalBackend
from triton_ocr.gateway.schemas import OCRRequest
from triton_ocr.models.registry import with_model_settings
from triton_ocr.steps.det_resize import det_input_size

pytestmark = pytest.mark.triton

CLIENTS = 64
SMALL_DET = {"limit_side_len": 320, "limit_type": "max"}
"""The load test's detection size (its 300×80 images as they are, not enlarged to the default set's 736 px): the
test is about answers reaching their own clients."""
LOAD_SECONDS = 15.0
PHOTOS = ("docs_zh/table.jpg", "multilingual/japan_1.jpg", "photos_en/254.jpg", "photos_zh/00009282.jpg")


@pytest.fixture(scope="module")
def triton() -> Iterator[object]:
    """The server behind the gateway, in exact fp32: these tests are about the HTTP layer, and one of them reads a
    rendered "Invoice 2024-0117" that bf16 reads as "…011/" (fp32 reads it right; accuracy on real data:
    docs/accuracy.md)."""
    yield from start_server(
        config=OCRConfig().with_overrides(runtime={"precision": "fp32"}), model_sets=["PP-OCRv4_mobile"]
    )


@pytest.fixture(scope="module")
def gateway(triton, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The gateway process's base URL; its log (one JSON line per request) is kept for failures."""
    log_path = tmp_path_factory.mktemp("gateway") / "gateway.log"
    command = [
        sys.executable, "-m", "triton_ocr.cli", "gateway", "--engine", "triton", "--triton-url", triton.grpc_url,
        "--port", "0", "--max-in-flight", str(CLIENTS), "--cpu-workers", "2",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
    try:
        assert process.stdout is not None
        first = process.stdout.readline().decode()
        match = re.search(r"http://127\.0\.0\.1:\d+", first)
        assert match, f"unexpected first line {first!r}; log:\n{log_path.read_text()[-3000:]}"
        url = match.group(0)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health/ready", timeout=10).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "the gateway never became ready"
            time.sleep(0.2)
        yield url
    finally:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture(scope="module")
def http(gateway: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway, timeout=120.0) as client:
        yield client


@pytest.fixture(scope="module")
def local_gateway(fp32_pipeline) -> Iterator[str]:
    """The same gateway on the local engine (the in-process pipeline of the Triton server's config)."""
    settings = GatewaySettings(engine="local", port=0, cpu_workers=2)
    with GatewayServer(settings, LocalBackend(fp32_pipeline.config, pipeline=fp32_pipeline)) as running:
        yield running.url


@pytest.fixture(scope="module", params=["triton", "local"])
def engine(request: pytest.FixtureRequest, gateway: str) -> Iterator[httpx.Client]:
    """A client of the gateway on each engine."""
    url = gateway if request.param == "triton" else request.getfixturevalue("local_gateway")
    with httpx.Client(base_url=url, timeout=120.0) as client:
        yield client


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def squeeze(texts: list[str]) -> str:
    return "".join(texts).replace(" ", "")


def assert_paddlex_envelope(body: dict) -> None:
    """PaddleX's OCR serving format: logId (str), errorCode 0, errorMsg "Success",
    result.texts[] = {poly: [[x, y] * 4] ints, text: str, score: float}, result.image: base64 JPEG or null."""
    assert set(body) == {"logId", "errorCode", "errorMsg", "result"}
    assert isinstance(body["logId"], str) and uuid.UUID(body["logId"])
    assert body["errorCode"] == 0 and type(body["errorCode"]) is int
    assert body["errorMsg"] == "Success"
    assert set(body["result"]) == {"texts", "image"}
    assert isinstance(body["result"]["texts"], list)
    for line in body["result"]["texts"]:
        assert set(line) == {"poly", "text", "score"}
        assert len(line["poly"]) == 4 and all(len(p) == 2 and all(type(v) is int for v in p) for p in line["poly"])
        assert isinstance(line["text"], str) and line["text"]
        assert type(line["score"]) is float and 0.0 <= line["score"] <= 1.0
    assert body["result"]["image"] is None or isinstance(body["result"]["image"], str)


def test_health_endpoints(http: httpx.Client) -> None:
    for path, message in (("/health", "Healthy"), ("/health/ready", "Ready")):
        body = http.get(path).json()
        assert body["errorCode"] == 0 and body["errorMsg"] == message and isinstance(body["logId"], str)


def test_envelope_and_picture_match_paddlex(http: httpx.Client) -> None:
    image = render_lines(["Invoice 2024-0117", "总计 人民币 350 元"], size=(640, 200))
    response = http.post("/ocr", json={"image": b64(encode(image))})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert_paddlex_envelope(body)
    texts = [t["text"].replace(" ", "") for t in body["result"]["texts"]]
    assert texts == ["Invoice2024-0117", "总计人民币350元"]
    picture = base64.b64decode(body["result"]["image"])
    assert picture[:3] == b"\xff\xd8\xff"  # JPEG
    assert Image.open(io.BytesIO(picture)).size == (640, 200)


def test_max_long_side_changes_the_detection_input(http: httpx.Client) -> None:
    image = render_lines(["a wide strip of text 12345"], size=(1600, 400), font_size=60)
    data = b64(encode(image))
    expected_texts = None
    served = with_model_settings(OCRConfig()).text_det  # the default set's resize: short side 736
    for params, (limit, kind) in (
        ({}, (served.limit_side_len, served.limit_type)),
        ({"inferenceParams": {"maxLongSide": 640}}, (640, "max")),
        ({"inferenceParams": {"maxLongSide": 1280}}, (1280, "max")),
        ({"textDetLimitSideLen": 480, "textDetLimitType": "min"}, (480, "min")),
    ):
        response = http.post("/ocr", json={"image": data, "visualize": False, **params})
        assert response.status_code == 200, response.text
        height, width = det_input_size(400, 1600, served.model_copy(update={"limit_side_len": limit, "limit_type": kind}))
        assert response.headers["X-Det-Input-Size"] == f"{width}x{height}", params
        texts = squeeze([t["text"] for t in response.json()["result"]["texts"]])
        assert "12345" in texts
        expected_texts = expected_texts or texts
    assert det_input_size(400, 1600, served.model_copy(update={"limit_side_len": 640, "limit_type": "max"})) != det_input_size(400, 1600, served)


def test_visualize_false_drops_the_picture(http: httpx.Client) -> None:
    data = b64(encode(render_lines(["no picture please 42"], size=(520, 100))))
    with_picture = http.post("/ocr", json={"image": data}).json()
    without = http.post("/ocr", json={"image": data, "visualize": False}).json()
    assert_paddlex_envelope(without)
    assert without["result"]["image"] is None and isinstance(with_picture["result"]["image"], str)
    assert without["result"]["texts"] == with_picture["result"]["texts"]


@pytest.mark.parametrize("photo", PHOTOS)
def test_results_equal_the_in_process_pipeline(photo: str, http: httpx.Client, shared_data: Path, fp32_pipeline) -> None:
    data = (shared_data / "photos_docs" / photo).read_bytes()
    response = http.post("/ocr", json={"image": b64(data), "visualize": False})
    assert response.status_code == 200, response.text
    served = response.json()["result"]["texts"]
    local = next(iter(fp32_pipeline.predict(data))).to_json_dict()
    assert [t["text"] for t in served] == local["rec_text"]
    assert len(served) > 0
    np.testing.assert_allclose([t["poly"] for t in served], local["dt_polys"], atol=1)
    np.testing.assert_allclose([t["score"] for t in served], local["rec_score"], atol=1e-3)


def test_model_set_chooses_the_reader(http: httpx.Client, shared_data: Path, v4_fp32_pipeline) -> None:
    data = (shared_data / "photos_docs" / PHOTOS[0]).read_bytes()
    response = http.post("/ocr", json={"image": b64(data), "visualize": False, "modelSet": "PP-OCRv4_mobile"})
    assert response.status_code == 200, response.text
    local = next(iter(v4_fp32_pipeline.predict(data))).to_json_dict()
    assert [t["text"] for t in response.json()["result"]["texts"]] == local["rec_text"]
    unknown = http.post("/ocr", json={"image": b64(data), "modelSet": "PP-OCRv9"})
    assert unknown.status_code == 422 and "unknown model set 'PP-OCRv9'" in unknown.json()["errorMsg"]
    not_served = http.post("/ocr", json={"image": b64(data), "modelSet": "PP-OCRv6_tiny"})
    assert not_served.status_code == 422 and "ocr.PP-OCRv6_tiny" in not_served.json()["errorMsg"]


@pytest.mark.parametrize(
    ("image", "status", "fragment"),
    [
        (b64(b"plain text, not a picture\n" * 4), 422, "cannot decode"),
        (b64(png_header(20000, 20000)), 413, "pixels"),
        ("http://10.0.0.1/x.png", 422, "private"),
        ("http://169.254.169.254/latest/meta-data/", 422, "metadata"),
    ],
)
def test_bad_input_on_the_triton_engine(image: str, status: int, fragment: str, http: httpx.Client) -> None:
    response = http.post("/ocr", json={"image": image})
    assert response.status_code == status and fragment in response.json()["errorMsg"], response.text
    valid = b64(encode(render_lines(["still fine 7"], size=(300, 80))))
    assert http.post("/ocr", json={"image": valid}).status_code == 200


def test_64_concurrent_clients_each_get_their_own_text(gateway: str, fp32_pipeline, capsys: pytest.CaptureFixture) -> None:
    """64 clients, each alternating between two images of its own with unique numbers, for LOAD_SECONDS.
    The in-flight bound is 64 (= the clients), so no 503 is expected either."""
    images = {}
    for client in range(CLIENTS):
        for variant in range(2):
            number = 10000 + 2 * client + variant
            picture = render_lines([f"No {number}"], size=(300, 80), font_size=40, origin=(16, 16))
            text = squeeze(next(iter(fp32_pipeline.predict(picture, text_det=SMALL_DET))).to_json_dict()["rec_text"])
            assert str(number) in text  # the in-process pipeline reads it; the server must say the same
            images[client, variant] = (b64(encode(picture)), text)

    statuses: list[int] = []
    latencies: list[float] = []
    mismatches: list[tuple[str, str]] = []

    async def run_client(index: int, deadline: float) -> None:
        async with httpx.AsyncClient(base_url=gateway, timeout=120.0) as client:
            sent = 0
            while time.monotonic() < deadline:
                data, expected = images[index, sent % 2]
                started = time.monotonic()
                body = {"image": data, "visualize": sent % 4 == 0, "textDetLimitSideLen": 320, "textDetLimitType": "max"}
                response = await client.post("/ocr", json=body)
                latencies.append(time.monotonic() - started)
                statuses.append(response.status_code)
                if response.status_code == 200:
                    got = squeeze([t["text"] for t in response.json()["result"]["texts"]])
                    if got != expected:
                        mismatches.append((expected, got))
                sent += 1

    async def load() -> float:
        started = time.monotonic()
        await asyncio.gather(*(run_client(i, started + LOAD_SECONDS) for i in range(CLIENTS)))
        return time.monotonic() - started

    elapsed = asyncio.run(load())
    counts = {status: statuses.count(status) for status in sorted(set(statuses))}
    ordered = sorted(latencies)
    with capsys.disabled():
        print(
            f"\n64-client load: {len(statuses)} requests in {elapsed:.1f} s = {len(statuses) / elapsed:.1f} req/s; "
            f"latency p50 {statistics.median(ordered) * 1000:.0f} ms, "
            f"p95 {ordered[int(0.95 * (len(ordered) - 1))] * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms; "
            f"statuses {counts}"
        )
    assert len(statuses) >= CLIENTS
    assert counts == {200: len(statuses)}, counts
    assert mismatches == [], mismatches[:5]


FIELD_VALUES: dict[str, tuple[object, dict[str, int]]] = {
    # field: (a value differing from the server's config, the status expected with image / with file)
    "inferenceParams": ({"maxLongSide": 640}, {"image": 200, "file": 200}),
    "textDetLimitSideLen": (480, {"image": 200, "file": 200}),
    "textDetLimitType": ("max", {"image": 200, "file": 200}),
    "textDetMaxSideLimit": (1024, {"image": 200, "file": 200}),
    "textDetThresh": (0.25, {"image": 200, "file": 200}),
    "textDetBoxThresh": (0.55, {"image": 200, "file": 200}),
    "textDetUnclipRatio": (1.8, {"image": 200, "file": 200}),
    "textRecScoreThresh": (0.7, {"image": 200, "file": 200}),
    "visualize": (False, {"image": 200, "file": 200}),
    "modelSet": ("PP-OCRv4_mobile", {"image": 200, "file": 200}),
    "fileType": (1, {"image": 422, "file": 200}),
    "useDocOrientationClassify": (True, {"image": 200, "file": 200}),
    "useDocUnwarping": (True, {"image": 422, "file": 422}),
    "useTextlineOrientation": (True, {"image": 200, "file": 200}),
    "returnWordBox": (True, {"image": 422, "file": 200}),
}


def test_every_request_field_differing_from_the_servers_config_is_answered(engine: httpx.Client) -> None:
    """Each field of the schema, alone, with a value the server's config does not have: the status the table says,
    and every answer PaddleX's JSON envelope (never a bare 500)."""
    assert set(FIELD_VALUES) == set(OCRRequest.model_fields) - {"image", "file"}  # a new field joins the table
    data = b64(encode(render_lines(["Field 2024"], size=(320, 80), font_size=32, origin=(12, 18))))
    for field, (value, expected) in FIELD_VALUES.items():
        for key, status in expected.items():
            response = engine.post("/ocr", json={key: data, field: value})
            assert response.headers["content-type"] == "application/json", (field, key, response.text)
            body = response.json()
            assert (response.status_code, body["errorCode"]) == (status, 0 if status == 200 else status), (
                field, key, response.text)
            if status == 200:
                texts = body["result"]["texts"] if key == "image" else body["result"]["ocrResults"][0][
                    "prunedResult"]["rec_texts"]
                assert len(texts) == 1, (field, key, body["result"])
            else:
                assert field in body["errorMsg"], (field, key, body["errorMsg"])


UPRIGHT = ["Orientation 180", "second line 42", "third line 77"]


def test_the_orientation_switches_turn_a_page_per_request_both_ways(engine: httpx.Client) -> None:
    """A page turned by 180°: ``useDocOrientationClassify`` turns it upright (lines in the upright order),
    ``useTextlineOrientation`` turns each line (in the turned page's order), neither reads no line right."""
    page = render_lines(UPRIGHT, size=(520, 260), font_size=32)
    data = b64(encode(np.ascontiguousarray(page[::-1, ::-1])))
    want = [t.replace(" ", "") for t in UPRIGHT]

    def read(**flags: bool) -> dict:
        response = engine.post("/ocr", json={"file": data, "visualize": False, **flags})
        assert response.status_code == 200, response.text
        return response.json()["result"]["ocrResults"][0]["prunedResult"]

    page_turned = read(useDocOrientationClassify=True, useTextlineOrientation=False)
    assert [t.replace(" ", "") for t in page_turned["rec_texts"]] == want
    assert page_turned["model_settings"]["use_doc_preprocessor"] is True
    lines_turned = read(useDocOrientationClassify=False, useTextlineOrientation=True)
    assert [t.replace(" ", "") for t in lines_turned["rec_texts"]] == want[::-1]
    assert lines_turned["textline_orientation_angles"] == [1, 1, 1]
    assert lines_turned["model_settings"] == {"use_doc_preprocessor": False, "use_textline_orientation": True}
    shown = engine.post("/ocr", json={"file": data, "useDocOrientationClassify": True}).json()["result"]
    picture = shown["ocrResults"][0]["docPreprocessingImage"]  # the page as the detector read it: upright
    assert Image.open(io.BytesIO(base64.b64decode(picture))).size == (520, 260)
    neither = read(useDocOrientationClassify=False, useTextlineOrientation=False)
    assert not {t.replace(" ", "") for t in neither["rec_texts"]} & set(want)
    assert set(neither["textline_orientation_angles"]) <= {-1}


def test_a_non_primary_set_reports_the_parameters_it_ran(engine: httpx.Client) -> None:
    data = b64(encode(render_lines(["Params 2024"], size=(320, 80), font_size=32, origin=(12, 18))))
    primary, v4 = (
        engine.post("/ocr", json={"file": data, "visualize": False, **extra}).json()["result"]["ocrResults"][0][
            "prunedResult"]["text_det_params"]
        for extra in ({}, {"modelSet": "PP-OCRv4_mobile"})
    )
    assert (primary["limit_type"], primary["limit_side_len"], primary["unclip_ratio"]) == ("min", 736, 1.6)
    assert (v4["limit_type"], v4["limit_side_len"], v4["unclip_ratio"], v4["box_thresh"]) == ("max", 960, 1.5, 0.6)
