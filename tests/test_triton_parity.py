"""Triton results equal the in-process pipeline's (same texts, boxes within 1 px) on real images, over gRPC (sync
client, several threads) and over HTTP (asyncio client): the default OpenVINO backend against the default in-process
engine, and the ONNX Runtime backend against in-process OpenVINO fp32 (so the engines agree through Triton too)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from triton_ocr.config import OCRConfig
from triton_ocr.inputs import IMAGE_SUFFIXES
from triton_ocr.result import OCRResult
from triton_ocr.contract import TEXT_DET, TEXT_REC
from triton_ocr_client import AsyncOCRClient, OCRClient
from triton_fixtures import assert_same_result, data_folder, served_config, start_server

pytestmark = pytest.mark.triton

ICDAR_IMAGES = 10
"""Blurred ICDAR 2015 scenes beside photos_docs: few, since the default set reads almost nothing in them."""
CONCURRENCY = 4
MODELS = (TEXT_DET, TEXT_REC)


@pytest.fixture(scope="module")
def dataset() -> list[str]:
    """Every image under photos_docs (it has sub-folders) and the first blurred ICDAR 2015 scenes."""
    photos = sorted(p for p in data_folder("photos_docs").rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    icdar = sorted(p for p in (data_folder("icdar2015_blurred") / "images").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return [str(p) for p in [*photos, *icdar[:ICDAR_IMAGES]]]


@pytest.fixture(scope="module")
def expected(dataset, pipeline) -> dict[str, OCRResult]:
    """In-process results of the default config (OpenVINO, bf16 where the CPU has it), as the server runs it."""
    return {result["input_path"]: result for result in pipeline.predict(dataset)}


@pytest.fixture(scope="module")
def server():
    yield from start_server(health_interval_s=5.0, http=True)


def check(expected: dict[str, OCRResult], results: list[OCRResult], dataset: list[str]) -> None:
    assert [r["input_path"] for r in results] == dataset
    for path, result in zip(dataset, results):
        assert_same_result(expected[path], result, label=path)


def served_backends(server) -> set[str]:
    """The backends the server reports for the two inference models."""
    return {served_config(server, name)["backend"] for name in MODELS}


def test_grpc_results_equal_in_process_results(server, dataset, expected):
    assert served_backends(server) == {"openvino"}
    with OCRClient.from_url(server.grpc_url, timeout_s=300) as client, ThreadPoolExecutor(CONCURRENCY) as pool:
        results = list(pool.map(lambda path: next(client.predict(path)), dataset))
    check(expected, results, dataset)


def test_http_results_equal_in_process_results(server, dataset, expected):
    async def run() -> list[OCRResult]:
        async with AsyncOCRClient(server.http_url, timeout_s=300, concurrency=CONCURRENCY) as client:
            return [result async for result in client.predict(dataset)]

    check(expected, asyncio.run(run()), dataset)


def test_folder_input_matches(server, expected):
    folder = data_folder("photos_docs") / "photos_en"
    with OCRClient.from_url(server.grpc_url, timeout_s=300) as client:
        results = list(client.predict(str(folder)))
    assert results and all(Path(r["input_path"]).parent == folder for r in results)
    for result in results:
        assert_same_result(expected[result["input_path"]], result, label=result["input_path"])


@pytest.fixture(scope="module")
def onnxruntime_server():
    """A second server whose text_det/text_rec run on the (python-based) onnxruntime backend (always fp32)."""
    yield from start_server(config=OCRConfig().with_overrides(runtime={"engine": "onnxruntime"}))


def test_onnxruntime_backend_equals_openvino_fp32_in_process(onnxruntime_server, dataset, fp32_pipeline):
    assert fp32_pipeline.config.runtime.engine == "openvino"
    assert served_backends(onnxruntime_server) == {"onnxruntime"}
    images = dataset[::3]  # the engines agree image for image: a third of the images tells
    expected = {result["input_path"]: result for result in fp32_pipeline.predict(images)}
    with OCRClient.from_url(onnxruntime_server.grpc_url, timeout_s=300) as client, ThreadPoolExecutor(CONCURRENCY) as pool:
        results = list(pool.map(lambda path: next(client.predict(path)), images))
    check(expected, results, images)
