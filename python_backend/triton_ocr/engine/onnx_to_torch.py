"""ONNX → PyTorch for the PP-OCR models, with the maintained converter ``onnx2torch`` (the ``torch`` extra).

:func:`convert` returns an eval-mode ``torch.nn.Module`` (a ``torch.fx.GraphModule``) whose Conv+BatchNorm pairs are
folded in fp32 — as ONNX Runtime and TensorRT do, and required before fp16: the PP-OCRv4 detector head's BatchNorm
has ``running_var`` up to ~9.8e7, beyond fp16's 65504, so a plain ``.half()`` of the unfolded graph turns it into
``inf`` (mask agreement 89.5% on a real document, docs/gpu.md). :func:`place` moves such a module to a device and
dtype and keeps its shape arithmetic on the host, so that the data path has no device→host syncs and can be
captured in a CUDA graph.

Two graph rewrites make paddle2onnx 2.x exports digestible for onnx2torch 1.5 (:func:`load_for_torch`); neither
changes the computation. ``scripts/gpu_model_bench.py`` loads this file by path (no ``triton_ocr`` import at
module level, so it runs where the package's own dependencies are not installed).
"""

from __future__ import annotations

import copy
import importlib
import sys
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import onnx
    import torch

TORCH_EXTRA_HINT = "install the torch extra: pip install -e '.[torch]' (torch, onnx2torch)"


def config_error(message: str) -> Exception:
    """A :class:`triton_ocr.errors.ConfigError` (imported here: see the module docstring)."""
    from triton_ocr.errors import ConfigError

    return ConfigError(message)


def import_onnx2torch() -> types.ModuleType:
    """``onnx2torch``, importable also where ``torchvision`` is absent or cannot load.

    onnx2torch imports torchvision at import time for its NMS and RoiAlign converters only; PP-OCR graphs use
    neither. Where torchvision is missing (CPU-only torch: PyPI's torchvision is built for the CUDA torch and fails
    beside it), a placeholder stands in during the import, and calling it raises.
    """
    try:
        return importlib.import_module("onnx2torch")
    except ModuleNotFoundError as exc:
        if exc.name == "onnx2torch":
            raise config_error(f"the torch engine needs onnx2torch: {TORCH_EXTRA_HINT}") from exc
        if exc.name != "torchvision":
            raise
    except (RuntimeError, ImportError) as exc:  # a torchvision that does not match this torch
        if "torchvision" not in str(exc) and not any(name.startswith("torchvision") for name in sys.modules):
            raise
    for name in [name for name in sys.modules if name == "torchvision" or name.startswith("torchvision.")]:
        del sys.modules[name]
    for name in [name for name in sys.modules if name.startswith("onnx2torch")]:
        del sys.modules[name]
    placeholder = _torchvision_placeholder()
    sys.modules["torchvision"], sys.modules["torchvision.ops"] = placeholder, placeholder.ops
    try:
        return importlib.import_module("onnx2torch")
    finally:
        del sys.modules["torchvision"], sys.modules["torchvision.ops"]


def _torchvision_placeholder() -> types.ModuleType:
    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("torchvision is not installed: onnx2torch's NMS/RoiAlign converters cannot run")

    module = types.ModuleType("torchvision")
    module.ops = types.ModuleType("torchvision.ops")  # type: ignore[attr-defined]
    for name in ("nms", "batched_nms", "box_convert", "roi_align"):
        setattr(module.ops, name, unavailable)  # type: ignore[attr-defined]
    return module


def constants_as_initializers(model: onnx.ModelProto) -> None:
    """paddle2onnx 2.x stores every weight as a ``Constant`` node; onnx2torch's Conv/BN converters look weights up
    among the initializers (``KeyError: 'conv2d_0.w_0'``). Turn the constants into initializers, in place."""
    from onnx import numpy_helper

    graph = model.graph
    kept = []
    for node in graph.node:
        if node.op_type == "Constant" and len(node.attribute) == 1 and node.attribute[0].name == "value":
            value = numpy_helper.to_array(node.attribute[0].t)
            graph.initializer.append(numpy_helper.from_array(value, node.output[0]))
        else:
            kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)


def annotate_batchnorm_ranks(model: onnx.ModelProto, source: Path) -> None:
    """In the SVTR neck a ``Reshape`` takes its target from ``Shape → Slice → Concat`` of a dynamic tensor, so
    shape inference loses the rank of what follows and onnx2torch refuses the next ``BatchNormalization``
    ("spatial rank == -2"). Its input's rank is the producing Conv's weight rank: annotate it, in place."""
    from onnx import TensorProto, helper

    infos = {info.name: info for info in model.graph.value_info}
    weights = {init.name: init for init in model.graph.initializer}
    producers = {out: node for node in model.graph.node for out in node.output}
    for node in model.graph.node:
        if node.op_type != "BatchNormalization":
            continue
        info = infos.get(node.input[0])
        if info is not None and info.type.tensor_type.HasField("shape"):
            continue
        producer = producers.get(node.input[0])
        if producer is None or producer.op_type != "Conv" or producer.input[1] not in weights:
            raise config_error(f"{source}: rank of {node.input[0]} (input of {node.name}) unknown; cannot convert")
        rank = len(weights[producer.input[1]].dims)
        if info is not None:
            model.graph.value_info.remove(info)
        model.graph.value_info.append(helper.make_tensor_value_info(node.input[0], TensorProto.FLOAT, [None] * rank))


def load_for_torch(path: Path) -> onnx.ModelProto:
    """The ONNX model at ``path`` with the two rewrites of the module docstring applied."""
    import onnx

    model = onnx.load(str(path))
    constants_as_initializers(model)
    model = onnx.shape_inference.infer_shapes(model)
    annotate_batchnorm_ranks(model, Path(path))
    return model


def convert(path: Path, fold_batchnorm: bool = True) -> torch.nn.Module:
    """The ONNX model at ``path`` as an fp32 eval-mode module on the CPU, Conv+BatchNorm folded by default."""
    from torch.fx.experimental.optimization import fuse

    module = import_onnx2torch().convert(load_for_torch(Path(path))).eval()
    return fuse(module, no_trace=True) if fold_batchnorm else module


def _host_shape(self: Any, input_tensor: torch.Tensor) -> torch.Tensor:
    """onnx2torch's ``Shape``, answered on the host (it builds it on the input's device)."""
    import torch

    return torch.tensor(input_tensor.shape[self._start : self._end])


def _steers_resize_only(module: torch.nn.Module, node: Any) -> bool:
    """Whether an initializer's every user is a ``Resize`` that takes it as a non-data argument (scales, sizes)."""
    users = list(node.users)
    return bool(users) and all(
        user.op == "call_module"
        and type(module.get_submodule(str(user.target))).__name__.startswith("OnnxResize")
        and user.args
        and user.args[0] is not node
        for user in users
    )


def keep_shape_args_on_host(module: torch.nn.Module) -> None:
    """After ``.to(device)``: move the initializers that only steer shapes back to the CPU, in place.

    onnx2torch reads them on the host (``Reshape``: ``torch.any(shape == 0)``; ``Resize``: ``scales.tolist()``;
    ``Slice``: ``.cpu().numpy()``): on a GPU each read would be a device→host sync per call (and breaks CUDA-graph
    capture), and ``Shape`` outputs could not meet device constants. Integer initializers (shape arithmetic) and the
    non-data inputs of ``Resize`` go back to the CPU, and ``Shape`` answers on the CPU.
    """
    import torch

    for submodule in module.modules():
        if type(submodule).__name__ == "OnnxShape":
            submodule.forward = types.MethodType(_host_shape, submodule)
    container = getattr(module, "initializers", None)
    if container is None:
        return
    for node in module.graph.nodes:  # type: ignore[union-attr]
        if node.op != "get_attr" or not str(node.target).startswith("initializers."):
            continue
        name = str(node.target).split(".", 1)[1]
        tensor = getattr(container, name)
        if not torch.is_floating_point(tensor):
            container._buffers[name] = tensor.cpu()
        elif _steers_resize_only(module, node):
            container._buffers[name] = tensor.float().cpu()


PIXEL_INPUT_CAST = "pixel_input_cast"
"""The detector's cast of its uint8 pixels (:data:`triton_ocr.models.pixel_input.CAST_NODE`)."""


def place(module: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    """A copy of ``module`` on ``device`` in ``dtype`` (eval mode), its shape arguments kept on the host, and the
    detector's pixels cast to ``dtype`` where its graph casts them to float32."""
    moved = copy.deepcopy(module).to(device=device, dtype=dtype).eval().requires_grad_(False)
    keep_shape_args_on_host(moved)
    cast = getattr(moved, PIXEL_INPUT_CAST, None)
    if cast is not None:
        cast.torch_dtype = dtype
    return moved
