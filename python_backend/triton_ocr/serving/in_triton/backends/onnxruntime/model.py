"""Python-based Triton backend ``onnxruntime``: serves standard ONNX Runtime model configs with ``1/model.onnx``.

The launcher copies this file to ``<backend-directory>/onnxruntime/model.py``; the NGC Triton image uses its native
ONNX Runtime backend for the same configs instead. See :mod:`triton_ocr.serving.in_triton.backend_model`.
"""

from triton_ocr.serving.in_triton.backend_model import backend_model

TritonPythonModel = backend_model("onnxruntime")
