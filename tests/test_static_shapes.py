"""Detector copies compiled for recurring input shapes: which shapes get one, that they compute what the dynamic
model computes, and the settings that choose how many (in-process and served)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from triton_ocr.config import OCRConfig, RuntimeConfig
from triton_ocr.engine.openvino_engine import RELEASE_ABOVE_ELEMENTS, CompiledModel, compile_config
from triton_ocr.models.cache import model_home

DET = model_home() / "PP-OCRv6_tiny_det" / "model.onnx"


@pytest.fixture()
def detector() -> CompiledModel:
    """The tiny detector in fp32 with room for two copies."""
    return CompiledModel(DET, compile_config(2, "fp32", None), static_shapes=2)


def run(model: CompiledModel, height: int, width: int) -> np.ndarray:
    image = np.random.default_rng(height * width).normal(0, 1, (1, 3, height, width)).astype(np.float32)
    return model.run({model.input_names[0]: image}, model.output_names)[0]


def held(model: CompiledModel) -> list[tuple[int, ...]]:
    return sorted(dict(key)[model.input_names[0]] for key in model.static.shapes())


def test_a_shape_gets_its_copy_on_the_second_sighting_and_it_computes_the_same(detector):
    first = run(detector, 96, 160)  # the dynamic model
    assert held(detector) == [] and detector.static.compilations == 0
    second = run(detector, 96, 160)  # the copy, compiled now
    assert held(detector) == [(1, 3, 96, 160)] and detector.static.compilations == 1
    np.testing.assert_allclose(second, first, atol=1e-4)
    assert first.shape == second.shape == (1, 1, 96, 160)
    run(detector, 96, 160)
    assert detector.static.compilations == 1  # used again, not compiled again


def test_shapes_seen_as_often_do_not_push_each_other_out(detector):
    for _ in range(2):
        run(detector, 64, 64)
        run(detector, 64, 96)
        run(detector, 64, 128)  # seen twice too, but no more often than the two that hold the room
    assert held(detector) == [(1, 3, 64, 64), (1, 3, 64, 96)]
    run(detector, 64, 128)  # its third sighting: more than the least-seen copy's two
    assert len(held(detector)) == 2 and (1, 3, 64, 128) in held(detector)
    assert detector.static.compilations == 3


def test_large_runs_and_no_room_run_the_dynamic_model():
    none = CompiledModel(DET, compile_config(2, "fp32", None), static_shapes=0)
    for _ in range(3):
        run(none, 64, 64)
    assert held(none) == [] and none.static.compilations == 0
    model = CompiledModel(DET, compile_config(2, "fp32", None), static_shapes=4)
    side = int((RELEASE_ABOVE_ELEMENTS / 3) ** 0.5) // 32 * 32 + 32  # just above the elements a copy may run
    assert 3 * side * side > RELEASE_ABOVE_ELEMENTS
    model.static.copy_for({model.input_names[0]: (1, 3, side, side)})
    assert model.static.copy_for({model.input_names[0]: (1, 3, side, side)}) is None


def test_the_setting_is_off_by_default_and_openvino_only():
    assert RuntimeConfig().det_static_shapes == 0  # every run's result the same unless asked
    assert OCRConfig(runtime={"det_static_shapes": 7}).runtime.det_static_shapes == 7
    with pytest.raises(ValidationError, match="runtime.det_static_shapes 2: only the openvino engine"):
        RuntimeConfig(engine="onnxruntime", det_static_shapes=2)
    assert RuntimeConfig(engine="onnxruntime", det_static_shapes=0).det_static_shapes == 0


def test_the_pipeline_detector_gets_the_setting():
    from tests.conftest import local_pipeline

    assert local_pipeline(OCRConfig()).det_model.compiled.static.capacity == 0
    pipeline = local_pipeline(OCRConfig().with_overrides(model_set="PP-OCRv6_tiny", runtime={"det_static_shapes": 1}))
    assert pipeline.det_model.compiled.static.capacity == 1
    assert pipeline.rec_model.compiled.static.capacity == 0  # recognisers gain nothing from copies
    image = np.full((120, 400, 3), 255, np.uint8)
    for _ in range(2):
        pipeline.ocr(image)
    assert pipeline.det_model.compiled.static.compilations == 1
