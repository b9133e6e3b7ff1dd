"""The FastAPI app: ``POST /ocr``, ``GET /health``, ``GET /health/ready``, and ``/docs`` + ``/openapi.json``.

Data flow of ``POST /ocr``: admission and the body's arrival (:mod:`~triton_ocr.gateway.middleware`) →
JSON validated (:class:`~triton_ocr.gateway.schemas.OCRRequest`) → image bytes (base64, or a guarded download:
:mod:`~triton_ocr.gateway.fetch`) → decoded and checked (thread pool) → backend inference → lines and, unless
``visualize`` is false, the picture (thread pool) → the PaddleX envelope. Every failure becomes
``{"logId", "errorCode": <HTTP status>, "errorMsg"}`` (:mod:`~triton_ocr.gateway.errors`); only a bug is a 500.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any, TypeVar

import numpy as np
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from triton_ocr.gateway.backends import OCRBackend, Recognition
from triton_ocr.gateway.docs import add_docs_routes
from triton_ocr.gateway.errors import HTTPError, http_error
from triton_ocr.gateway.fetch import Resolver, URLFetcher, system_resolver
from triton_ocr.errors import SHOWN_CHARS, ImageTooLargeError, shown
from triton_ocr.gateway.images import (
    classify_image_field,
    decode_base64,
    decode_base64_image,
    image_data,
    picture_base64,
)
from triton_ocr.gateway.paddlex3 import (
    OCRResponseV3,
    envelope,
    file_kind,
    image_file_info,
    page_result,
    pdf_data_info,
)
from triton_ocr.gateway.middleware import BodyLimits, GatewayMiddleware, Slots, error_body
from triton_ocr.gateway.schemas import (
    ERROR_RESPONSES,
    REQUEST_OBJECTS,
    RETRY_AFTER,
    ErrorResponse,
    HealthResponse,
    OCRRequest,
    OCRResponse,
)
from triton_ocr.gateway.settings import GatewaySettings
from triton_ocr.heap import trim_heap
from triton_ocr.paddlex_compat import close_matches
from triton_ocr.probe import probe_image
from triton_ocr.steps.image_loading import decode_image
from triton_ocr.steps import pdf_pages
from triton_ocr.steps.pdf_worker import PdfWorker
from triton_ocr_client.errors import InferenceTimeoutError, ServerUnavailableError

log = logging.getLogger("triton_ocr.gateway")
T = TypeVar("T")

INLINE_PARSE_BYTES = 256 * 1024
"""Bodies up to this size are parsed on the event loop; larger ones in the thread pool."""
TRIM_ABOVE_BYTES = 12 << 20
"""A decoded image this large (4 M pixels) is followed by :func:`~triton_ocr.heap.trim_heap` (~0.5 ms)."""

DESCRIPTION = """PaddleX-compatible OCR service (PP-OCR text detection + recognition: PP-OCRv4, v5 and v6 model sets).

`POST /ocr` takes `{"image": <base64 or http(s) URL>, "inferenceParams": {"maxLongSide": int}}` and answers
`{"logId", "errorCode": 0, "errorMsg": "Success", "result": {"texts": [{"poly", "text", "score"}], "image"}}`;
PaddleX 3.x parameters (`textDetLimitSideLen`, `textDetThresh`, ..., `visualize`) are accepted as extensions.
Every failure is `{"logId", "errorCode": <HTTP status>, "errorMsg"}` with that HTTP status."""


class Readiness:
    """Whether a real inference succeeded within the last ``cache_s`` seconds; if not, one probe inference runs
    (concurrent checks share it). Successful ``/ocr`` inferences count too."""

    def __init__(self, backend: OCRBackend, cache_s: float, timeout_s: float) -> None:
        self.backend = backend
        self.cache_s = cache_s
        self.timeout_s = timeout_s
        self.probe = probe_image()
        self.probe_pixels = decode_image(self.probe)
        self.last_success = -math.inf
        self.lock = asyncio.Lock()

    def succeeded(self) -> None:
        self.last_success = time.monotonic()

    def failed(self) -> None:
        """An inference failed for a transient reason: the next check probes instead of trusting the cache."""
        self.last_success = -math.inf

    def fresh(self) -> bool:
        return time.monotonic() - self.last_success < self.cache_s

    async def check(self) -> str | None:
        """``None`` when ready, else why not. A recent inference counts only while the engine still answers its
        cheap health call (a restarted Triton would otherwise read ready for ``cache_s`` after it died)."""
        if self.fresh():
            try:
                serving = await asyncio.wait_for(self.backend.serving(), self.timeout_s)
            except asyncio.TimeoutError:
                serving = False
            if serving:
                return None
            self.failed()
            return "the engine does not answer its health check"
        async with self.lock:
            if self.fresh():
                return None
            try:
                await asyncio.wait_for(self.backend.recognise(self.probe, self.probe_pixels, {}), self.timeout_s)
            except asyncio.TimeoutError:
                return f"the probe inference took longer than {self.timeout_s:g} s"
            except Exception as exc:  # noqa: BLE001 - any failure means not ready
                return f"the probe inference failed: {type(exc).__name__}: {exc}"
            self.succeeded()
            return None


class Gateway:
    """The app's state: settings, backend, thread pool, URL fetcher, readiness, PDF renderer slots."""

    def __init__(self, settings: GatewaySettings, backend: OCRBackend, resolver: Resolver) -> None:
        self.settings = settings
        self.backend = backend
        self.limits = backend.config.image
        self.pool = ThreadPoolExecutor(settings.cpu_workers, thread_name_prefix="gateway-cpu")
        self.fetcher = URLFetcher(
            self.limits, settings.url_allow, settings.url_max_redirects, settings.url_deadline_s, resolver
        )
        self.readiness = Readiness(backend, settings.ready_cache_s, settings.ready_timeout_s)
        self.in_flight = Slots(settings.max_in_flight)
        self.receiving = Slots(settings.max_receiving_bodies)
        self.pdf_slots = asyncio.Semaphore(settings.pdf_workers)

    async def cpu(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(*args)`` in the thread pool."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, functools.partial(function, *args))

    async def close(self) -> None:
        await self.fetcher.close()
        await self.backend.close()
        self.pool.shutdown(wait=False, cancel_futures=True)

    # --- POST /ocr, step by step ---

    async def read_body(self, request: Request) -> bytes:
        """The body, already received in full by the middleware (its type, size and arrival rate checked there)."""
        return b"".join([chunk async for chunk in request.stream() if chunk])  # one chunk: joined without a copy

    async def parse(self, body: bytes) -> OCRRequest:
        if not body.strip():
            raise HTTPError(422, 'the body is empty: send a JSON object such as {"image": "<base64 or URL>"}')
        try:
            if len(body) <= INLINE_PARSE_BYTES:
                parsed = OCRRequest.model_validate_json(body)
            else:
                parsed = await self.cpu(OCRRequest.model_validate_json, body)
        except ValidationError as exc:
            raise HTTPError(422, validation_message(exc)) from None
        conflict = parsed.conflict()
        if conflict:
            raise HTTPError(422, conflict)
        return parsed

    async def load(self, field: str, pixels: bool) -> tuple[bytes, np.ndarray | None]:
        """The image file's bytes and, if ``pixels``, its decoded BGR pixels (else its header is checked only)."""
        kind, value = classify_image_field(field)
        if kind == "base64":
            return await self.cpu(decode_base64_image, value, self.limits, pixels)
        if not self.settings.url_input:
            raise HTTPError(422, "image: this service does not download URLs; send the image in base64")
        data = await self.fetcher.fetch(value)
        return await self.cpu(image_data, data, self.limits, pixels)

    async def infer(self, encoded: bytes, image: np.ndarray | None, request: OCRRequest) -> Recognition:
        fixed = [field for field in request.given() if field.python not in self.backend.adjustable]
        if fixed:
            raise HTTPError(422, f"{fixed[0].http}: the {self.backend.name} engine cannot change {fixed[0].path} per "
                                 "request; leave it out (the server's pipeline config sets it)")
        timeout = self.settings.inference_timeout_s
        try:
            recognition = await asyncio.wait_for(
                self.backend.recognise(encoded, image, request.overrides()), timeout
            )
        except InferenceTimeoutError:
            raise  # the engine's own deadline (a TimeoutError too)
        except asyncio.TimeoutError:
            raise HTTPError(504, f"inference took longer than {timeout:g} s") from None
        except ServerUnavailableError:
            self.readiness.failed()  # a dead stub, a model reloading, a server restarting: not ready until a probe
            raise
        self.readiness.succeeded()
        return recognition

    def envelope(self, log_id: str, recognition: Recognition, image: np.ndarray | None, visualize: bool) -> bytes:
        """The success body (runs in the thread pool: drawing, JPEG and JSON encoding)."""
        lines = recognition.result.to_json_dict()
        texts = [
            {"poly": poly, "text": text, "score": score}
            for poly, text, score in zip(lines["dt_polys"], lines["rec_text"], lines["rec_score"])
        ]
        picture = (
            picture_base64(image, recognition.result["dt_polys"], self.settings.jpeg_quality,
                           self.settings.picture_max_side)
            if visualize
            else None
        )
        payload = {"logId": log_id, "errorCode": 0, "errorMsg": "Success", "result": {"texts": texts, "image": picture}}
        return json.dumps(payload, ensure_ascii=False).encode("utf-8")

    async def file_bytes(self, field: str) -> bytes:
        """The ``file`` field's bytes (base64 or a guarded download), within ``image.max_bytes``."""
        kind, value = classify_image_field(field)
        if kind == "url" and not self.settings.url_input:
            raise HTTPError(422, "file: this service does not download URLs; send the file in base64")
        data = await (self.cpu(decode_base64, value) if kind == "base64" else self.fetcher.fetch(value))
        if len(data) > self.limits.max_bytes:
            raise ImageTooLargeError(f"the file is {len(data)} bytes; the limit is {self.limits.max_bytes}")
        return data

    async def ocr_file(self, request: Request, parsed: OCRRequest) -> Response:
        """PaddleX 3.x: ``file`` (an image or a PDF) → one ``ocrResults`` entry per image or page; every page goes
        to the backend as its own request (on Triton, through dynamic batching)."""
        data = await self.file_bytes(parsed.file or "")
        warnings = []
        if file_kind(data, parsed.fileType) == "pdf":
            entries, pdf = await self.pdf_entries(data, parsed)
            info = pdf_data_info(pdf)
            warnings += [f"the PDF: {pdf.unread}"] if pdf.unread else []
        else:
            image, info = await self.cpu(image_file_info, data, self.limits)
            entries = [await self.page_entry(None, data, image, parsed)]
            trim_after([image])
        return Response(envelope(request.state.log_id, entries, info, warnings), media_type="application/json")

    async def pdf_entries(self, data: bytes, parsed: OCRRequest) -> tuple[list[dict[str, Any]], pdf_pages.PdfInfo]:
        """A PDF's ``ocrResults`` and its page facts: its pages rendered by a worker process, each read as it comes
        (the worker renders the next one meanwhile); at most ``pdf_workers`` PDFs at once, beyond that a 503."""
        if self.pdf_slots.locked():
            raise HTTPError(
                503, f"{self.settings.pdf_workers} PDFs are being rendered (pdf_workers), retry later",
                {"Retry-After": str(self.settings.retry_after_s)},
            )
        entries = []
        async with self.pdf_slots, PdfWorker(data, self.limits, "the PDF") as pdf:
            async for page in pdf:
                entries.append(await self.page_entry(len(entries), None, page, parsed))
                trim_after([page])
                del page  # one page in memory at a time
            assert pdf.info is not None
            return entries, pdf.info

    async def page_entry(
        self, page_index: int | None, encoded: bytes | None, page: np.ndarray, parsed: OCRRequest
    ) -> dict[str, Any]:
        """One image or page through the backend → its ``ocrResults`` entry."""
        recognition = await self.infer(encoded, page, parsed)
        result = recognition.result.for_page(page_index, page)
        return await self.cpu(
            page_result, result, parsed.visualize is not False, self.settings.jpeg_quality,
            self.settings.picture_max_side,
        )

    async def ocr(self, request: Request) -> Response:
        body = await self.read_body(request)
        parsed = await self.parse(body)
        del body
        if parsed.file is not None:
            request.state.input_field = "file"  # names the field in the input's error messages
            return await self.ocr_file(request, parsed)
        visualize = parsed.visualize is not False
        # Pixels only where they are used: the picture, or an in-process backend (Triton decodes by itself).
        encoded, image = await self.load(parsed.image, pixels=visualize or self.backend.needs_pixels)
        recognition = await self.infer(encoded, image, parsed)
        content = await self.cpu(self.envelope, request.state.log_id, recognition, image, visualize)
        trim_after([image])
        headers = {}
        if recognition.det_input_size is not None:
            height, width = recognition.det_input_size
            headers["X-Det-Input-Size"] = f"{width}x{height}"
        return Response(content, media_type="application/json", headers=headers)


def trim_after(images: list[np.ndarray | None]) -> None:
    """After a request with an image of :data:`TRIM_ABOVE_BYTES` or more, give the heap's free pages back: the
    decoding and drawing threads leave them behind (the 30-minute soak's gateway sat 64 MiB above its start)."""
    if any(image is not None and image.nbytes >= TRIM_ABOVE_BYTES for image in images):
        trim_heap()


def package_version() -> str:
    try:
        return version("triton-ocr")
    except PackageNotFoundError:
        return "0"


def validation_message(exc: ValidationError) -> str:
    """Pydantic errors as ``field.path: message; ...`` (the body itself is ``body``); an unknown key as
    ``path.key: unknown key (did you mean ...?); accepted keys: ...``. Keys are cut by :func:`shown`."""
    parts = []
    for error in exc.errors(include_url=False)[:5]:
        if error["type"] == "json_invalid":
            parts.append(f"the body is not valid JSON: {error.get('ctx', {}).get('error', error['msg'])}")
            continue
        location = ".".join(shown(str(p), quoted=False) for p in error["loc"]) or "body"
        if error["type"] == "extra_forbidden":
            *parent, key = (str(p) for p in error["loc"])
            accepted = list(REQUEST_OBJECTS[tuple(parent)].model_fields)
            hint = close_matches(key, accepted) if len(key) <= SHOWN_CHARS else ""
            parts.append(f"{location}: unknown key{hint}; accepted keys: {', '.join(accepted)}")
            continue
        parts.append(f"{location}: {error['msg']}")
    return "; ".join(parts)


def error_response(request: Request, error: HTTPError) -> Response:
    request.state.error = error.message
    return Response(
        error_body(request.state.log_id, error.status, error.message),
        status_code=error.status,
        media_type="application/json",
        headers=error.headers,
    )


def create_app(settings: GatewaySettings, backend: OCRBackend, *, resolver: Resolver = system_resolver) -> FastAPI:
    """The gateway app over ``backend``; ``resolver`` resolves the host names of URL inputs (tests fake it)."""
    gateway = Gateway(settings, backend, resolver)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await backend.start()
        log.info("gateway ready: engine %s, in-flight bound %d", backend.name, settings.max_in_flight)
        try:
            yield
        finally:
            await gateway.close()

    app = FastAPI(
        title="triton-ocr gateway",
        version=package_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # add_docs_routes: the Swagger UI page with its assets served here, not from a CDN
        redoc_url=None,
        redirect_slashes=False,  # a bare 307 to the other spelling helps no client: /ocr/ is served, others 404
    )
    app.state.gateway = gateway
    app.add_middleware(
        GatewayMiddleware,
        api_key=settings.api_key_value(),
        in_flight=gateway.in_flight,
        receiving=gateway.receiving,
        body=BodyLimits.of(settings),
        retry_after_s=settings.retry_after_s,
    )

    @app.exception_handler(StarletteHTTPException)
    async def http_exception(request: Request, exc: StarletteHTTPException) -> Response:
        return error_response(request, HTTPError(exc.status_code, str(exc.detail), dict(exc.headers or {})))

    add_ocr_route(app, gateway, settings)
    add_health_routes(app, gateway, settings)
    add_docs_routes(app)
    app.openapi = lambda: openapi_schema(app, settings)  # type: ignore[method-assign]
    return app


def add_ocr_route(app: FastAPI, gateway: Gateway, settings: GatewaySettings) -> None:
    """``POST /ocr``."""

    @app.post(
        "/ocr",
        operation_id="infer",
        summary="OCR one image",
        response_model=None,
        responses={
            200: {
                "model": OCRResponse | OCRResponseV3,  # image → 3.0-beta's answer, file → 3.x's
                "description": "the recognised lines (and the picture)",
                "headers": {
                    "X-Det-Input-Size": {
                        "description": "WIDTHxHEIGHT of the image the text detector saw (after the resize that "
                        "maxLongSide / textDetLimitSideLen control)",
                        "schema": {"type": "string", "pattern": "^[0-9]+x[0-9]+$"},
                    }
                },
            },
            **ERROR_RESPONSES,
        },
    )
    async def ocr(request: Request) -> Response:
        try:
            return await gateway.ocr(request)
        except Exception as exc:  # noqa: BLE001 - every failure answers in the envelope
            error = http_error(exc, settings.retry_after_s, getattr(request.state, "input_field", "image"))
            if error is None:
                log.exception("logId %s: internal error", request.state.log_id)
                error = HTTPError(500, f"internal error ({type(exc).__name__}); logId {request.state.log_id}")
            return error_response(request, error)

    app.add_api_route("/ocr/", ocr, methods=["POST"], include_in_schema=False, response_model=None)


def add_health_routes(app: FastAPI, gateway: Gateway, settings: GatewaySettings) -> None:
    """``GET /health`` (the process is up) and ``GET /health/ready`` (a real inference succeeded recently)."""

    @app.get(
        "/health",
        operation_id="checkHealth",
        summary="the process is up",
        response_model=HealthResponse,
        responses={200: {"description": "always, while the process serves"}},
    )
    async def health(request: Request) -> Response:
        body = {"logId": request.state.log_id, "errorCode": 0, "errorMsg": "Healthy"}
        return Response(json.dumps(body).encode(), media_type="application/json")

    @app.get(
        "/health/ready",
        operation_id="checkReady",
        summary="a real inference through the engine succeeded recently",
        response_model=HealthResponse,
        responses={
            401: ERROR_RESPONSES[401],
            503: {"model": ErrorResponse, "description": "the engine cannot infer now", "headers": RETRY_AFTER},
        },
    )
    async def ready(request: Request) -> Response:
        problem = await gateway.readiness.check()
        if problem is not None:
            return error_response(
                request, HTTPError(503, f"not ready: {problem}", {"Retry-After": str(settings.retry_after_s)})
            )
        body = {"logId": request.state.log_id, "errorCode": 0, "errorMsg": "Ready"}
        return Response(json.dumps(body).encode(), media_type="application/json")


def openapi_schema(app: FastAPI, settings: GatewaySettings) -> dict[str, Any]:
    """FastAPI's schema plus the ``/ocr`` request body (parsed by hand, so FastAPI cannot see it) and the API-key
    scheme when one is configured; computed once."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    body = OCRRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(body.pop("$defs", {}))
    components["OCRRequest"] = body
    schema["paths"]["/ocr"]["post"]["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OCRRequest"}}},
    }
    if settings.api_key is not None:
        api_key = {"type": "apiKey", "in": "header", "name": "X-API-Key"}
        schema["components"]["securitySchemes"] = {"ApiKey": api_key}
        for path, operations in schema["paths"].items():
            if path != "/health":
                for operation in operations.values():
                    operation["security"] = [{"ApiKey": []}]
    app.openapi_schema = schema
    return schema
