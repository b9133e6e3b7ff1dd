"""The recogniser with CTC's best path inside the model, for serving.

Triton's ``text_rec`` serves a copy of the recogniser whose outputs are the most probable class at every time step
and its probability — (N, T) each, computed over the class axis (:func:`with_best_path`) — instead of the (N, T, C)
probabilities: 6625 times less to copy from the model's process through the server to ``ocr_postprocess``. The
in-process pipeline computes the same two arrays with :func:`triton_ocr.steps.ctc_decode.best_path` (ties go to the
lowest class in both). The copy keeps the model's metadata (the charset) and is cached by content hash.
"""

from __future__ import annotations

from pathlib import Path

from triton_ocr.models.cache import derived_model

CLASSES = "best_path_classes"
"""INT64 (N, T): the most probable class at each step."""
CONFIDENCES = "best_path_confidences"
"""FP32 (N, T): its probability."""
REVISION = b"best-path-2"


def with_best_path(model_bytes: bytes) -> bytes:
    """The ONNX recogniser ``model_bytes`` (one output, (N, T, C)) with :data:`CLASSES` and :data:`CONFIDENCES` as
    its outputs instead.

    The class is found without ``ArgMax``: OpenVINO's CPU plugin runs it as a ``TopK`` that took 27 of 93 ms of a
    6 × 48 × 960 chunk (PP-OCRv6 small, bf16), more than any layer of the model. Instead: the maximum over the
    class axis (``ReduceMax``), the classes that equal it (``Equal``), each weighted by ``C - class`` and the largest
    weight taken (``ReduceMax``): ``C -`` that is the lowest class holding the maximum, which is ``ArgMax``'s
    answer, ties included. Elementwise work and two reductions: ~2 ms for that chunk."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_from_string(model_bytes)
    if len(model.graph.output) != 1:
        raise ValueError(f"a recogniser has one output, this model has {len(model.graph.output)}")
    probs = model.graph.output[0].name
    classes = model.graph.output[0].type.tensor_type.shape.dim[2].dim_value
    if classes <= 0:
        raise ValueError("the recogniser's output must have a fixed number of classes (its last dimension)")
    opset = max(entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx"))
    weights = numpy_helper.from_array(np.arange(classes, 0, -1, dtype=np.float32), "best_path_weights")
    size = numpy_helper.from_array(np.array(classes, np.float32), "best_path_classes_count")
    model.graph.initializer.extend([weights, size])

    def reduce_max(source: str, target: str, keepdims: int) -> onnx.NodeProto:
        if opset >= 18:  # ReduceMax takes its axes as an input from opset 18 on
            return helper.make_node("ReduceMax", [source, "best_path_axes"], [target], keepdims=keepdims)
        return helper.make_node("ReduceMax", [source], [target], axes=[2], keepdims=keepdims)

    if opset >= 18:
        model.graph.initializer.append(helper.make_tensor("best_path_axes", TensorProto.INT64, [1], [2]))
    model.graph.node.extend([
        reduce_max(probs, "best_path_max", 1),
        helper.make_node("Equal", [probs, "best_path_max"], ["best_path_is_max"]),
        helper.make_node("Cast", ["best_path_is_max"], ["best_path_is_max_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["best_path_is_max_f", "best_path_weights"], ["best_path_weighted"]),
        reduce_max("best_path_weighted", "best_path_top_weight", 0),
        helper.make_node("Sub", ["best_path_classes_count", "best_path_top_weight"], ["best_path_class_f"]),
        helper.make_node("Cast", ["best_path_class_f"], [CLASSES], to=TensorProto.INT64),
        reduce_max(probs, CONFIDENCES, 0),
    ])
    del model.graph.output[:]
    model.graph.output.extend(
        [
            helper.make_tensor_value_info(CLASSES, TensorProto.INT64, ["batch", "steps"]),
            helper.make_tensor_value_info(CONFIDENCES, TensorProto.FLOAT, ["batch", "steps"]),
        ]
    )
    onnx.checker.check_model(model)
    return model.SerializeToString()


def best_path_model(path: Path, cache: Path) -> Path:
    """:func:`with_best_path` of the recogniser at ``path``, written once to ``cache/<sha256>/model.onnx``."""
    return derived_model(path, cache, REVISION, with_best_path)
