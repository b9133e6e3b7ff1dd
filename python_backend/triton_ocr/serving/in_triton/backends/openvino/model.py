"""Python-based Triton backend ``openvino``: serves standard OpenVINO backend configs (``default_model_filename:
"model.onnx"``) with OpenVINO on the CPU.

The launcher copies this file to ``<backend-directory>/openvino/model.py``; the NGC Triton image uses its native
OpenVINO backend for the same configs instead. See :mod:`triton_ocr.serving.in_triton.backend_model`.
"""

from triton_ocr.serving.in_triton.backend_model import backend_model

TritonPythonModel = backend_model("openvino")
