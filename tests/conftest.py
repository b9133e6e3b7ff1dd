"""Shared fixtures: the real models, the dev data in ../shared/data, and rendered test images."""

from __future__ import annotations

from pathlib import Path

import pytest

from triton_ocr.config import OCRConfig
from triton_ocr.models.cache import model_home

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests using it are skipped, with the reason, where it is absent (a user's clone)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"dev data {SHARED_DATA} is absent (it ships beside the repository, not in it)")
    return SHARED_DATA


FP32 = OCRConfig().with_overrides(runtime={"precision": "fp32"})
"""The default pipeline in exact fp32 (OpenVINO fp32 = ONNX Runtime = PaddleOCR): for the parity tests."""


def local_pipeline(config: OCRConfig):  # noqa: ANN201 - OCRPipeline, imported lazily
    from triton_ocr.pipeline import OCRPipeline

    if not (model_home() / "PP-OCRv6_small_det" / "model.onnx").is_file():
        pytest.fail("models are not fetched: run scripts/setup.sh (or `triton-ocr models fetch`)")
    return OCRPipeline(config)


@pytest.fixture(scope="session")
def pipeline():
    """The default pipeline (OpenVINO, bf16 where the CPU has it)."""
    return local_pipeline(OCRConfig())


@pytest.fixture(scope="session")
def fp32_pipeline():
    return local_pipeline(FP32)


V4_FP32 = OCRConfig(model_set="PP-OCRv4_mobile", runtime={"precision": "fp32"})
"""PP-OCRv4 mobile in exact fp32: what RapidOCR 1.4.4 and PaddleX's published PP-OCRv4 output are checked against."""


@pytest.fixture(scope="session")
def v4_fp32_pipeline():
    return local_pipeline(V4_FP32)
