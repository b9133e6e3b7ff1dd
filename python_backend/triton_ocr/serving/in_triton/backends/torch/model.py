"""Python-based Triton backend ``torch``: serves ``model.onnx`` converted to PyTorch, on the instance's CPU or GPU.

The launcher copies this file to ``<backend-directory>/torch/model.py``. No native backend has this name (the NGC
image's ``pytorch`` backend runs TorchScript files): on the NGC image, render the ``gpu`` profile with
``runtime.engine: onnxruntime`` instead (native ONNX Runtime with TensorRT). See
:mod:`triton_ocr.serving.in_triton.torch_runner`.
"""

from triton_ocr.serving.in_triton.backend_model import backend_model
from triton_ocr.serving.in_triton.torch_runner import TorchRunner

TritonPythonModel = backend_model("torch", TorchRunner)
