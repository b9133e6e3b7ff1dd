"""The soak test's clients: one request of a :class:`~triton_ocr.bench.soak_inputs.Case` through the HTTP gateway
or through Triton's gRPC API, and its verdict.

Verdicts: ``ok`` (the answer the case must get), ``transient`` (503 / ``ModelRecoveringError`` /
``ServerUnavailableError`` / ``OverloadedError``: allowed only inside a fault window, decided later), ``crossed`` (a
good image answered with another image's texts), ``lost`` (a good image without its answer: wrong texts, or no
answer within the time-out), ``unexpected`` (anything else: a 5xx, a 200 for a corrupt file, ...).
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from triton_ocr.bench.soak_inputs import Case

TRANSIENT_ERRORS = frozenset({"ModelRecoveringError", "ServerUnavailableError", "OverloadedError"})
CLIENT_ERRORS = frozenset({"BadInputError"})


@dataclass(frozen=True)
class Outcome:
    """One request: when it started and ended (seconds since the soak began), where it went, what came back."""

    start: float
    end: float
    channel: str
    case: str
    kind: str
    status: str
    verdict: str
    detail: str = ""
    attempts: int = 1
    """Times the client library sent it (gRPC: more than 1 while a model it needed was being healed)."""


class Sent(NamedTuple):
    """What a client got for one case: a status (``"200"``/``"ok"``, an HTTP status or an error class), the texts on
    success, a detail, and how many times the client library sent it (the gateway's own retries are inside it; raw
    tritonclient calls are sent once)."""

    status: str
    texts: tuple[str, ...] | None
    detail: str
    attempts: int = 1


def judge(case: Case, status: str, texts: tuple[str, ...] | None, others: dict[tuple[str, ...], str]) -> str:
    """The verdict for ``case`` answered with ``status`` (``"200"``/``"ok"`` or an HTTP status / error class) and,
    on success, ``texts``; ``others``: every good case's expected texts → its name."""
    success = status in ("200", "ok")
    if not success and case.kind != "pdf" and (status == "503" or status in TRANSIENT_ERRORS):
        return "transient"
    if status in ("timeout", "no answer"):
        return "lost" if case.kind == "good" else "unexpected"
    if case.kind == "good":
        if not success:
            return "unexpected"
        if texts == case.expected:
            return "ok"
        return "crossed" if texts in others and others[texts] != case.name else "lost"
    if case.kind == "amplifying":
        return "ok" if success else "unexpected"
    if case.kind == "restricted":
        return "ok" if status == "refused" else "unexpected"
    refused = status in CLIENT_ERRORS or (status.isdigit() and 400 <= int(status) < 500)
    if case.kind == "pdf" and status == "503":
        return "ok"  # every PDF worker busy: shed with Retry-After, as configured
    return "ok" if refused else "unexpected"


class GatewayClient:
    """``POST /ocr`` with base64 images (``visualize`` off unless the case asks for it)."""

    channel = "gateway"

    def __init__(self, url: str, timeout_s: float) -> None:
        import httpx

        self.url = url
        self.http = httpx.Client(timeout=timeout_s)

    def send(self, case: Case) -> Sent:
        import httpx

        body = {case.field: base64.b64encode(case.data).decode("ascii"), "visualize": False, **case.body}
        try:
            response = self.http.post(f"{self.url}/ocr", json=body)
        except httpx.TimeoutException:
            return Sent("timeout", None, "no answer within the time-out")
        except httpx.TransportError as exc:
            return Sent("no answer", None, f"{type(exc).__name__}: {exc}")
        status = str(response.status_code)
        if response.status_code != 200:
            return Sent(status, None, response.json().get("errorMsg", "")[:200])
        texts = tuple(line["text"] for line in response.json()["result"]["texts"])
        return Sent(status, texts, response.headers.get("X-Det-Input-Size", ""))

    def close(self) -> None:
        self.http.close()


class GrpcClient:
    """Triton over gRPC: images through the client library (``ocr``), poison through Triton's own API."""

    channel = "grpc"

    def __init__(self, url: str, timeout_s: float) -> None:
        import tritonclient.grpc as grpc

        from triton_ocr_client import OCRClient

        self.client = OCRClient.from_url(url, timeout_s=timeout_s)
        self.raw = grpc.InferenceServerClient(url.removeprefix("grpc://"))
        self.input_names: dict[str, str] = {}

    def send(self, case: Case) -> Sent:
        from triton_ocr_client.errors import ClientError, classify

        try:
            if case.kind == "restricted":
                return self._restricted(case.data)
            if case.kind == "poison":
                self._poison(*case.data)
                return Sent("ok", None, "answered")  # a poisoning input must not be answered
            if case.kind == "oversize":
                self._oversize(*case.data)
                return Sent("ok", None, "answered")
            request = next(iter(self.client.prepare(case.data, **case.overrides)))
            reply = self.client.infer(request, extra_outputs=("det_input_size",))
        except ClientError as exc:
            return Sent(type(exc).__name__, None, str(exc)[:200])
        except Exception as exc:  # noqa: BLE001 - raw tritonclient errors are classified like the library's
            error = classify(exc)
            return Sent(type(error).__name__, None, str(error)[:200])
        size = reply.outputs.get("det_input_size")
        detail = "" if size is None else "x".join(map(str, size.tolist()))
        return Sent("ok", tuple(reply.result["rec_text"]), detail, reply.attempts)

    def _poison(self, model: str, array: np.ndarray) -> None:
        import tritonclient.grpc as grpc

        if model not in self.input_names:
            self.input_names[model] = self.raw.get_model_metadata(model).inputs[0].name
        tensor = grpc.InferInput(self.input_names[model], list(array.shape), "UINT8" if array.dtype == np.uint8
                                 else "FP32")
        tensor.set_data_from_numpy(array)
        self.raw.infer(model, [tensor])

    def _oversize(self, model: str, tensors: dict[str, Any]) -> None:
        """One raw request of ``tensors`` (an array, or a declared shape with raw bytes that do not fill it)."""
        import grpc
        from tritonclient.grpc import service_pb2
        from tritonclient.grpc._utils import raise_error_grpc
        from tritonclient.utils import np_to_triton_dtype

        request = service_pb2.ModelInferRequest(model_name=model)
        for name, value in tensors.items():
            if not name:
                name = self.input_names.setdefault(model, self.raw.get_model_metadata(model).inputs[0].name)
            shape, data = value if isinstance(value, tuple) else (value.shape, value.tobytes())
            datatype = "UINT8" if isinstance(value, tuple) else np_to_triton_dtype(value.dtype)
            tensor = request.inputs.add(name=name, datatype=datatype)
            tensor.shape.extend(shape)
            request.raw_input_contents.append(data)
        try:
            self.raw._client_stub.ModelInfer(request, timeout=60)
        except grpc.RpcError as exc:
            raise_error_grpc(exc)

    def _restricted(self, api: str) -> Sent:
        """A restricted API called without the key: ``refused`` if Triton says so, else ``answered``."""
        from tritonclient.utils import InferenceServerException

        calls = {
            "register_stub_region": lambda: self.raw.register_system_shared_memory("stolen", *self._stub_region()),
            "statistics": lambda: self.raw.get_inference_statistics(),
            "unload_model": lambda: self.raw.unload_model("text_rec"),
            "log_settings": lambda: self.raw.get_log_settings(),
        }
        try:
            calls[api]()
        except InferenceServerException as exc:
            return Sent("refused" if "restricted" in str(exc) else "answered", None, str(exc)[:200])
        return Sent("answered", None, f"{api} answered without the key")

    @staticmethod
    def _stub_region() -> tuple[str, int]:
        """A live python stub's shared-memory region (its name is on the stub's command line) and its size."""
        from triton_ocr.serving.server.stubs import SHM_PREFIX, SHM_ROOT

        region = next(path for path in SHM_ROOT.glob(f"{SHM_PREFIX}*"))
        return f"/{region.name}", region.stat().st_size

    def close(self) -> None:
        self.client.close()
        self.raw.close()


def run_case(client: Any, case: Case, others: dict[tuple[str, ...], str], origin: float) -> Outcome:
    """Send ``case`` with ``client`` and judge the answer; times relative to ``origin`` (``time.monotonic``)."""
    start = time.monotonic() - origin
    status, texts, detail, attempts = client.send(case)
    if case.kind == "poison" and status == "ok":
        status = "answered"  # judged unexpected below: not a 4xx
    verdict = judge(case, status, texts, others)
    if verdict in ("crossed", "lost"):
        detail = f"answered {texts!r}, expected {case.expected!r}"
    return Outcome(start, time.monotonic() - origin, client.channel, case.name, case.kind, status, verdict, detail,
                   attempts)
