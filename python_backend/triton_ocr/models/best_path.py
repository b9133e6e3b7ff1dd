"""The recogniser with CTC's best path inside the model, for serving.

Triton's ``text_rec`` serves a copy of the recogniser whose outputs are the most probable class at every time step
and its probability — ``ArgMax`` and ``ReduceMax`` over the class axis, (N, T) each — instead of the (N, T, C)
probabilities: 6625 times less to copy from the model's process through the server to ``ocr_postprocess``. The
in-process pipeline computes the same two arrays with :func:`triton_ocr.steps.ctc_decode.best_path` (ties go to the
lowest class in both). The copy keeps the model's metadata (the charset) and is cached by content hash.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

CLASSES = "best_path_classes"
"""INT64 (N, T): the most probable class at each step."""
CONFIDENCES = "best_path_confidences"
"""FP32 (N, T): its probability."""
REVISION = b"best-path-1"


def with_best_path(model_bytes: bytes) -> bytes:
    """The ONNX recogniser ``model_bytes`` (one output, (N, T, C)) with :data:`CLASSES` and :data:`CONFIDENCES` as
    its outputs instead."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load_from_string(model_bytes)
    if len(model.graph.output) != 1:
        raise ValueError(f"a recogniser has one output, this model has {len(model.graph.output)}")
    probs = model.graph.output[0].name
    opset = max(entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx"))
    model.graph.node.append(helper.make_node("ArgMax", [probs], [CLASSES], axis=2, keepdims=0))
    if opset >= 18:  # ReduceMax takes its axes as an input from opset 18 on
        model.graph.initializer.append(helper.make_tensor("best_path_axes", TensorProto.INT64, [1], [2]))
        model.graph.node.append(helper.make_node("ReduceMax", [probs, "best_path_axes"], [CONFIDENCES], keepdims=0))
    else:
        model.graph.node.append(helper.make_node("ReduceMax", [probs], [CONFIDENCES], axes=[2], keepdims=0))
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
    data = Path(path).read_bytes()
    target = cache / hashlib.sha256(REVISION + data).hexdigest() / "model.onnx"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.part")
        partial.write_bytes(with_best_path(data))
        partial.replace(target)
    return target
