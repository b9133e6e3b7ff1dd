"""Triton deployment: the model repository (rendered from OCRConfig + a serving profile), the python models'
adapters, the python-based ``onnxruntime`` backend and the supervised server launcher (``triton-ocr serve``).

Modules: ``contract`` (tensor names), ``profile`` (ServingProfile), ``repository`` (render/assemble), ``steps``
(what the python models compute), ``adapter`` (Triton glue), ``onnx_runner``, ``install`` (the binary), ``server``
(TritonServer), ``command`` (CLI).
"""
