"""Triton deployment, by job:

- ``in_triton/``: what Triton runs — the python models (``adapter``, ``bodies``) and the python-based
  ``onnxruntime`` / ``openvino`` backends (``backend_model``, ``model_runner``, ``backends/``);
- ``repository/``: what writes the model repository — ``catalog`` (every model declared once), ``profiles``,
  ``plan`` (effective settings), ``configs`` / ``pbtxt`` / ``render``, ``assemble``;
- ``server/``: what runs the server process — ``install``, ``launcher``, ``supervisor``, ``command`` (serve).

The tensor contract the client shares lives in :mod:`triton_ocr.contract`.
"""
