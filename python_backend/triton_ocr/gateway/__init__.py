"""The PaddleX-compatible HTTP service (``POST /ocr``) in front of Triton or of the in-process pipeline.

    from triton_ocr.gateway import GatewayServer, GatewaySettings
    with GatewayServer(GatewaySettings(engine="local", port=0)) as gateway:
        print(gateway.url)

Modules, in the order a request meets them: ``middleware`` (logId, API key, in-flight bound, body size, access
log) → ``app`` (routes) → ``schemas`` (wire format) → ``images`` / ``fetch`` (image bytes and pixels; guarded
URL downloads) → ``backends`` (Triton or local inference) → ``errors`` (failures to HTTP statuses).
``settings`` holds every knob; ``server`` runs it under uvicorn; ``command`` is ``triton-ocr gateway``.
"""

from triton_ocr.gateway.app import create_app
from triton_ocr.gateway.backends import LocalBackend, OCRBackend, Recognition, TritonBackend, make_backend
from triton_ocr.gateway.server import GatewayServer
from triton_ocr.gateway.settings import GatewaySettings

__all__ = [
    "GatewayServer",
    "GatewaySettings",
    "LocalBackend",
    "OCRBackend",
    "Recognition",
    "TritonBackend",
    "create_app",
    "make_backend",
]
