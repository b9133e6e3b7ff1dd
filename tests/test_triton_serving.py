"""A real Triton server: dynamic batching merges work without cross-talk, bad input stays one request's problem,
0 and 2000 boxes work, a killed python stub heals, and the clients and CLI work against it."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from PIL import Image

from triton_ocr.config import OCRConfig
from triton_ocr.errors import ConfigError, InvalidImageError
from triton_ocr.pipeline import OCRPipeline
from triton_ocr import contract
from triton_ocr.serving.server.launcher import free_ports
from triton_ocr.serving.server.supervisor import Supervisor
from triton_ocr_client import AsyncOCRClient, BadInputError, OCRClient, ServerUnavailableError
from triton_ocr_client.errors import ModelRecoveringError
from triton_ocr_client.errors import classify
from triton_fixtures import (
    assert_same_result,
    png_bytes,
    png_header_only,
    start_server,
    stub_pids,
    text_image,
    word_grid,
)

pytestmark = pytest.mark.triton

CONFIG = OCRConfig().with_overrides(text_det={"max_candidates": 3000}, text_rec={"min_width": 96})
PROBE = text_image(7, lines=2)


@pytest.fixture(scope="module")
def server():
    yield from start_server(config=CONFIG, health_interval_s=1.0, http=True)


@pytest.fixture(scope="module")
def local() -> OCRPipeline:
    return OCRPipeline(CONFIG)


@pytest.fixture(scope="module", params=["grpc", "http"])
def client(server, request) -> OCRClient:
    with OCRClient.from_url(server.grpc_url if request.param == "grpc" else server.http_url, config=CONFIG) as client:
        yield client


def raw_grpc(server) -> grpcclient.InferenceServerClient:
    return grpcclient.InferenceServerClient(server.grpc_url.split("://")[1])


def model_counts(raw: grpcclient.InferenceServerClient, model: str, headers: dict[str, str]) -> tuple[int, int]:
    """(successful requests, executions) of ``model`` so far (``headers``: the launcher's key, which the
    statistics API needs)."""
    stats = raw.get_inference_statistics(model, as_json=True, headers=headers)["model_stats"][0]
    return int(stats["inference_stats"]["success"].get("count", 0)), int(stats.get("execution_count", 0))


def test_image_without_text_gives_an_empty_result(client):
    blank = Image.new("RGB", (400, 300), "white")
    for source in (png_bytes(blank), np.full((300, 400, 3), 255, np.uint8)):
        result = client.ocr(source)
        assert result["rec_text"] == [] and result["dt_polys"] == [] and result["rec_score"] == []


@pytest.mark.parametrize(
    "data",
    [b"definitely not an image", PROBE[:300], png_header_only(20000, 20000), b"", png_header_only(2, 2)],
    ids=["corrupt", "truncated", "20000x20000-header", "empty", "2x2"],
)
def test_bad_input_is_a_clean_client_error_and_the_next_request_works(client, data):
    with pytest.raises(BadInputError) as caught:
        client.ocr(data)
    assert isinstance(caught.value, InvalidImageError)
    assert client.ocr(PROBE)["rec_text"]


def test_invalid_parameter_is_rejected_per_request(server, client):
    with pytest.raises(ConfigError):
        client.ocr(PROBE, text_det={"box_thresh": 5.0})
    with pytest.raises(ConfigError, match="cannot change per request"):
        client.ocr(PROBE, text_rec={"batch_size": 3})
    image = grpcclient.InferInput(contract.IMAGE, [1], "BYTES")
    image.set_data_from_numpy(np.array([PROBE], dtype=np.object_))
    thresh = grpcclient.InferInput("det_box_thresh", [1], "FP32")
    thresh.set_data_from_numpy(np.array([5.0], np.float32))
    with pytest.raises(Exception) as caught:
        raw_grpc(server).infer(contract.OCR, [image, thresh])
    assert isinstance(classify(caught.value), BadInputError)
    assert client.ocr(PROBE)["rec_text"]


def test_per_request_parameters_reach_the_models(server, client):
    image = grpcclient.InferInput(contract.IMAGE, [1], "BYTES")
    image.set_data_from_numpy(np.array([PROBE], dtype=np.object_))
    side = grpcclient.InferInput("det_limit_side_len", [1], "INT32")
    side.set_data_from_numpy(np.array([320], np.int32))
    kind = grpcclient.InferInput("det_limit_type", [1], "BYTES")
    kind.set_data_from_numpy(np.array([b"max"], dtype=np.object_))
    response = raw_grpc(server).infer(contract.OCR, [image, side, kind])
    assert max(response.as_numpy(contract.DET_INPUT_SIZE)) == 320
    default = client.ocr(PROBE)
    strict = client.ocr(PROBE, text_rec={"score_thresh": 0.9999})
    assert len(strict["rec_text"]) < len(default["rec_text"])


def test_array_input_equals_encoded_input(client):
    array = np.array(Image.open(io.BytesIO(PROBE)).convert("RGB"))[:, :, ::-1]
    assert_same_result(client.ocr(PROBE), client.ocr(np.ascontiguousarray(array)))


def test_2000_boxes_in_one_image(server):
    data, words = word_grid(2000)
    with OCRClient.from_url(server.grpc_url, timeout_s=300) as client:
        result = client.ocr(data, text_det={"limit_side_len": 3200})
    assert len(result["rec_text"]) >= 1980
    matched = sum(a == b for a, b in zip(result["rec_text"], words))
    assert matched >= 0.9 * len(words)


def test_concurrent_requests_are_merged_without_cross_talk(server, local):
    numbers = [str(n) for n in range(10000, 99999, 7)]  # equal-width lines: one recognition shape bucket
    images = [text_image(seed, size=(640, 360), lines=3, max_words=1, vocabulary=numbers) for seed in range(32)]
    expected = [next(local.predict(image)) for image in images]
    raw = raw_grpc(server)
    before = {model: model_counts(raw, model, server.admin_headers)
              for model in (contract.OCR, contract.TEXT_DET, contract.TEXT_REC)}
    with OCRClient.from_url(server.grpc_url, timeout_s=120) as client, ThreadPoolExecutor(32) as pool:
        results = list(pool.map(client.ocr, images))
    time.sleep(0.5)  # statistics are updated just after the responses leave
    after = {model: model_counts(raw, model, server.admin_headers) for model in before}
    requests = {model: after[model][0] - before[model][0] for model in before}
    executions = {model: after[model][1] - before[model][1] for model in before}
    assert executions[contract.TEXT_DET] < len(images) <= requests[contract.TEXT_DET], (requests, executions)
    # the cpu profile's text_rec has no batcher: each chunk, the whole batch, runs as it comes (eleventh pass)
    assert executions[contract.TEXT_REC] == requests[contract.TEXT_REC] > len(images), (requests, executions)
    for index, (want, got) in enumerate(zip(expected, results)):
        assert_same_result(want, got, label=f"image {index}")


def test_killed_python_stubs_heal_without_a_manual_restart(server):
    instances = set(server.stub_processes())
    victims = [stub_pids(server, contract.OCR_POSTPROCESS)[0], stub_pids(server, contract.TEXT_REC)[0]]
    for pid in victims:
        subprocess.run(["kill", "-9", str(pid)], check=True)
    deadline, failures = time.monotonic() + 60, 0
    with OCRClient.from_url(server.grpc_url) as client:
        while True:
            try:
                client.ocr(PROBE)
                break
            except ModelRecoveringError:  # 503-class while the supervisor reloads the model
                failures += 1
                assert time.monotonic() < deadline, "the server did not heal within 60 s"
                time.sleep(0.2)
        while set(server.stub_processes()) != instances:
            assert time.monotonic() < deadline, f"stubs not back: {set(server.stub_processes())} != {instances}"
            time.sleep(0.2)
        for _ in range(12):
            assert client.ocr(PROBE)["rec_text"]
    assert not set(victims) & set(server.stub_processes().values())


def test_supervisor_reloads_the_model_a_failed_probe_names(server):
    reloads = server.reloads
    supervisor = Supervisor(server, 3600.0, threading.Event())
    named = supervisor.dead_models("in ensemble 'ocr', Stub process 'text_rec_0_1' is not healthy.")
    assert named == {contract.TEXT_REC}
    supervisor.heal(named)
    assert server.reloads == reloads + 1
    assert server.probe() is None


def test_async_client_keeps_order_and_results_save(server, local, tmp_path):
    images = [text_image(seed) for seed in (101, 102, 103, 104, 105)]

    async def run() -> list:
        async with AsyncOCRClient(server.http_url, config=CONFIG, concurrency=3) as client:
            return [result async for result in client.predict(images)]

    results = asyncio.run(run())
    for image, result in zip(images, results):
        assert_same_result(next(local.predict(image)), result)
    assert results[0].save_to_img(tmp_path).is_file()
    assert json.loads(results[0].save_to_json(tmp_path).read_text())["res"]["rec_text"] == results[0]["rec_text"]


def test_cli_runs_on_the_server(server, tmp_path):
    image = tmp_path / "probe.png"
    image.write_bytes(PROBE)
    done = subprocess.run(
        [sys.executable, "-m", "triton_ocr.cli", "--pipeline", "OCR", "--input", str(image),
         "--server", server.grpc_url, "--save_path", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "out" / "probe_ocr.json").read_text())["res"]["rec_text"]
    assert (tmp_path / "out" / "probe_ocr.png").is_file()


@pytest.mark.parametrize("scheme", ["grpc", "http"])
def test_unreachable_server_is_a_typed_error(scheme):
    with pytest.raises(ServerUnavailableError):
        with OCRClient.from_url(f"{scheme}://127.0.0.1:{free_ports(1)[0]}", timeout_s=5) as client:
            client.ocr(PROBE)


def test_server_and_stubs_run_with_the_malloc_settings(server):
    from triton_ocr.heap import MALLOC_SETTINGS

    pids = [server.pid, *server.stub_processes().values()]
    for pid in pids:
        entries = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
        environ = dict(entry.split("=", 1) for entry in entries if "=" in entry)
        assert {key: environ.get(key) for key in MALLOC_SETTINGS} == MALLOC_SETTINGS, pid
    assert len(pids) >= 5


def test_pdf_pages_through_triton_equal_in_process(client, local):
    from imagegen import pdf_from_images, render_lines

    pdf = pdf_from_images([render_lines([f"Page {n} of 3"], size=(300, 60), font_size=24) for n in (1, 2, 3)])
    remote, here = list(client.predict(pdf)), list(local.predict(pdf))
    assert [r["page_index"] for r in remote] == [r["page_index"] for r in here] == [0, 1, 2]
    for number, (want, got) in enumerate(zip(here, remote, strict=True)):
        assert_same_result(want, got, f"page {number}")
        assert got["rec_texts"] and got["text_det_params"] == want["text_det_params"]


def test_word_boxes_through_triton_equal_in_process(client, local):
    """``return_word_box`` per request: the server's ``ocr_postprocess`` computes the in-process words."""
    want = next(local.predict(PROBE, return_word_box=True))
    got = next(client.predict(PROBE, return_word_box=True))
    assert_same_result(want, got)
    assert got["text_word"] == want["text_word"] and sum(map(len, want["text_word"])) > len(want["rec_texts"])
    for line, (here, there) in enumerate(zip(want["text_word_region"], got["text_word_region"], strict=True)):
        assert np.abs(here - there).max() <= 1.0, line
    assert "text_word" not in next(client.predict(PROBE))


def test_the_cpu_servers_log_has_no_cuda_stream_errors(server):
    """A GPU build of tritonserver without a CUDA driver: its ensembles' stream errors are left out of the log
    (docs/triton.md); the rest of the log is there."""
    text = server.log_path.read_text(errors="replace")
    assert "Started GRPCInferenceService" in text and "unable to create stream" not in text
