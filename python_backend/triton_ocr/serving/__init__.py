"""Triton deployment: the model repository (rendered from OCRConfig + a serving profile), the python models'
adapters, the python-based ``onnxruntime`` and ``openvino`` backends and the supervised server launcher
(``triton-ocr serve``).

Modules: ``contract`` (tensor names), ``profile`` (ServingProfile), ``repository`` (render/assemble), ``steps``
(what the python models compute), ``adapter`` (Triton glue), ``model_runner`` and ``backend_model`` (the
python-based backends), ``install`` (the binary), ``server`` (TritonServer), ``command`` (CLI).
"""
