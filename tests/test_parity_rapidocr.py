"""Parity with the reference implementation: RapidOCR 1.4.4 on the same weights, run here with our parameters.

Acceptance: on ../shared/data/photos_docs and 50 icdar2015_blurred images (the default run; all 250 scenes in the
``slow`` run), at least 99.5% of the reference's lines have a line of ours with identical text and a box with
IoU ≥ 0.9 (measured: 100%). The reference is computed in the test; ours runs the PP-OCRv4 mobile set in fp32 (OpenVINO),
the precision that reproduces PaddleOCR.
"""

from __future__ import annotations

import numpy as np
import pytest

from triton_ocr.eval.metrics import polygon_iou
from triton_ocr.inputs import IMAGE_SUFFIXES
from triton_ocr.stages import OCRLines
from triton_ocr.steps.image_loading import load_image

pytest.importorskip("rapidocr_onnxruntime", reason="the reference needs `pip install --no-deps rapidocr-onnxruntime==1.4.4`")


def photos_in(shared_data) -> list:
    return sorted(p for p in (shared_data / "photos_docs").rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def parity_images(shared_data, scenes: int = 50) -> list:
    found = sorted((shared_data / "icdar2015_blurred" / "images").iterdir(), key=lambda p: p.name)
    assert len(found) >= scenes
    return photos_in(shared_data) + found[:scenes]


def matched_lines(reference: OCRLines, ours: OCRLines) -> int:
    """How many reference lines have a line of ours with the same text and a box with IoU ≥ 0.9."""
    matched = 0
    for ref_poly, ref_text in zip(reference.polys, reference.texts):
        matched += any(
            text == ref_text and polygon_iou(ref_poly, poly) >= 0.9 for poly, text in zip(ours.polys, ours.texts)
        )
    return matched


@pytest.mark.parametrize("scenes", [20, pytest.param(250, marks=pytest.mark.slow)])
def test_lines_match_rapidocr_with_same_parameters(v4_fp32_pipeline, shared_data, scenes):
    from triton_ocr.eval.rapidocr_reference import RapidOCRReference

    pipeline = v4_fp32_pipeline
    reference = RapidOCRReference(pipeline.config)
    images = parity_images(shared_data, scenes)
    assert len(images) == len(photos_in(shared_data)) + scenes and len(images) > 45
    total = matched = 0
    worst = []
    for path in images:
        image = load_image(path)
        ref, ours = reference(image), pipeline.ocr(image)
        hits = matched_lines(ref, ours)
        total, matched = total + len(ref), matched + hits
        if hits < len(ref):
            worst.append((len(ref) - hits, path.name))
    rate = matched / total
    print(f"\nparity: {matched}/{total} reference lines matched ({rate:.2%}); misses: {sorted(worst)[-5:]}")
    assert total > 1000
    assert rate >= 0.995, f"{rate:.2%} of reference lines matched; images with misses: {sorted(worst)[-10:]}"


def test_polygons_are_image_pixels(pipeline, shared_data):
    path = next(iter(parity_images(shared_data)))
    image = load_image(path)
    lines = pipeline.ocr(image)
    height, width = image.shape[:2]
    assert len(lines) > 0
    assert np.all(lines.polys[..., 0] <= width) and np.all(lines.polys[..., 1] <= height) and lines.polys.min() >= 0
