"""Model inputs checked before an engine runs them.

An input shape the model cannot run must never reach OpenVINO's CPU plugin: a run that fails inside it leaves the
compiled model's shared graph state broken for later, valid requests (see :class:`~triton_ocr.engine.openvino_engine.
CompiledModel`). :class:`ShapeCheck` asks the model's own shape inference (OpenVINO's, on the ONNX graph, no
compilation: ~10 ms per new shape, then a dictionary look-up) whether a shape can run, so the minima are the model's
own — a recogniser line narrower than its first pooling kernel (< 7 px for PP-OCRv4), a detector input that is not
a multiple of its stride (32), a zero-sized batch — and need no table per model.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import openvino as ov

from triton_ocr.errors import InvalidModelInputError

Shapes = dict[str, tuple[int, ...]]


class ShapeCheck:
    """Raises :class:`InvalidModelInputError` for input shapes ``model`` cannot run; remembers the last
    ``cache_size`` verdicts."""

    def __init__(self, model: ov.Model, name: str, cache_size: int = 256) -> None:
        self.name = name
        self._model = model.clone()  # reshaped in place by each new verdict, so a private copy
        self._lock = threading.Lock()
        self._verdicts: OrderedDict[tuple, str | None] = OrderedDict()
        self._cache_size = cache_size

    @classmethod
    def of_file(cls, path: Path, name: str | None = None) -> ShapeCheck:
        from triton_ocr.engine.openvino_engine import core

        return cls(core().read_model(str(path)), name or Path(path).parent.name)

    def __call__(self, shapes: Shapes) -> None:
        key = tuple(sorted((name, tuple(int(d) for d in shape)) for name, shape in shapes.items()))
        with self._lock:
            if key in self._verdicts:
                self._verdicts.move_to_end(key)
                verdict = self._verdicts[key]
            else:
                verdict = self._verdicts[key] = self._infer_shapes(dict(key))
                if len(self._verdicts) > self._cache_size:
                    self._verdicts.popitem(last=False)
        if verdict is not None:
            raise InvalidModelInputError(f"{self.name}: input shape {_describe(shapes)} cannot run: {verdict}")

    def _infer_shapes(self, shapes: Shapes) -> str | None:
        """``None`` when every dimension is positive and the model's shape inference gives non-empty outputs, else
        why not."""
        if any(d < 1 for shape in shapes.values() for d in shape):
            return "every dimension must be at least 1"
        names = {port.get_any_name() for port in self._model.inputs}
        if set(shapes) != names:
            return f"the model's inputs are {sorted(names)}"
        try:
            self._model.reshape({name: ov.PartialShape(list(shape)) for name, shape in shapes.items()})
        except Exception as exc:  # noqa: BLE001 - OpenVINO's shape inference says why in its last line
            return str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        for output in self._model.outputs:
            shape = output.get_partial_shape()
            if shape.is_static and any(d == 0 for d in shape.to_shape()):
                return f"output {output.get_any_name()} would be empty ({shape})"
        return None


def _describe(shapes: Shapes) -> str:
    if len(shapes) == 1:
        return str(list(next(iter(shapes.values()))))
    return ", ".join(f"{name} {list(shape)}" for name, shape in shapes.items())
