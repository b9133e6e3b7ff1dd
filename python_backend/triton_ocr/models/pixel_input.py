"""The detector taking the resized image's uint8 pixels, its normalisation inside the graph.

The PP-OCR detectors take float32 (N, 3, H, W) normalised per channel. :func:`with_pixel_input` gives the model
uint8 (N, H, W, 3) in the image's own channel order (BGR) under the same input name, and prepends the steps the
pipeline did in numpy: ``Transpose`` to channels first, ``Cast`` to float32, then ``x · 1/(255·std) − mean/std``
(``Mul``, ``Add``; :func:`triton_ocr.steps.normalization.normalize_to_chw`'s values to float32 rounding). So the
detector's input is the resized image itself — no 12 bytes per pixel written by the pipeline — a quarter of the
bytes crosses from ``det_preprocess`` to ``text_det`` in Triton, and the engine runs the arithmetic on its own
threads. The in-process pipeline and the served ``text_det`` load the same copy, cached by content hash, mean and std.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from triton_ocr.models.cache import derived_model

REVISION = b"pixel-input-1"
CAST_NODE = "pixel_input_cast"
"""The ``Cast`` to float32: the torch engine casts to its own precision there instead
(:func:`triton_ocr.engine.onnx_to_torch.place`)."""


def with_pixel_input(model_bytes: bytes, mean: Sequence[float], std: Sequence[float]) -> bytes:
    """The ONNX detector ``model_bytes`` (one float32 (N, 3, H, W) input) taking uint8 (N, H, W, 3) pixels,
    normalised in the graph as ``(pixel / 255 − mean) / std`` per channel."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_from_string(model_bytes)
    initializers = {entry.name for entry in model.graph.initializer}
    inputs = [value for value in model.graph.input if value.name not in initializers]
    if len(inputs) != 1 or len(inputs[0].type.tensor_type.shape.dim) != 4:
        raise ValueError("a detector has one (N, 3, H, W) input")
    source = inputs[0]
    if source.type.tensor_type.elem_type != TensorProto.FLOAT:
        raise ValueError(f"the detector's input {source.name!r} is not float32: does it take pixels already?")
    name, normalised = source.name, f"{source.name}_normalised"
    for node in model.graph.node:
        node.input[:] = [normalised if value == name else value for value in node.input]
    std_ = np.asarray(std, np.float32).reshape(1, 3, 1, 1)
    mean_ = np.asarray(mean, np.float32).reshape(1, 3, 1, 1)
    model.graph.initializer.extend([
        numpy_helper.from_array((1.0 / (255.0 * std_)).astype(np.float32), "pixel_input_scale"),
        numpy_helper.from_array((-mean_ / std_).astype(np.float32), "pixel_input_shift"),
    ])
    prefix = [
        helper.make_node("Transpose", [name], ["pixel_input_nchw"], perm=[0, 3, 1, 2], name="pixel_input_transpose"),
        helper.make_node("Cast", ["pixel_input_nchw"], ["pixel_input_float"], to=TensorProto.FLOAT, name=CAST_NODE),
        helper.make_node("Mul", ["pixel_input_float", "pixel_input_scale"], ["pixel_input_scaled"]),
        helper.make_node("Add", ["pixel_input_scaled", "pixel_input_shift"], [normalised]),
    ]
    nodes = [*prefix, *model.graph.node]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    position = list(model.graph.input).index(source)
    model.graph.input.remove(source)
    model.graph.input.insert(
        position, helper.make_tensor_value_info(name, TensorProto.UINT8, ["batch", "height", "width", 3])
    )
    onnx.checker.check_model(model)
    return model.SerializeToString()


def pixel_input_model(path: Path, cache: Path, mean: Sequence[float], std: Sequence[float]) -> Path:
    """:func:`with_pixel_input` of the detector at ``path``, written once to ``cache/<sha256>/model.onnx``."""
    key = REVISION + repr((tuple(map(float, mean)), tuple(map(float, std)))).encode()
    return derived_model(path, cache, key, lambda data: with_pixel_input(data, mean, std))
