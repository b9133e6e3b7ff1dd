"""The client library without a server: endpoints, typed errors, request tensors typed by the contract, and the
per-request override mapping from the HTTP fields through the client's tensors to the server's config."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from triton_ocr import contract
from triton_ocr.config import OCRConfig
from triton_ocr.errors import ConfigError, InvalidImageError
from triton_ocr.gateway.schemas import OCRRequest
from triton_ocr.serving.in_triton.bodies import request_config
from triton_ocr_client import OCRClient
from triton_ocr_client.errors import (
    BadInputError,
    InferenceError,
    InferenceTimeoutError,
    ModelRecoveringError,
    OverloadedError,
    ServerUnavailableError,
    classify,
)
from triton_ocr_client.protocol import (
    Endpoint,
    Request,
    check_overrides,
    infer_inputs,
    requested_outputs,
    to_reply,
    tunable_arrays,
)
from triton_fixtures import text_image


def test_endpoints_parse():
    assert Endpoint.parse("grpc://h:9") == Endpoint("grpc", "h:9")
    assert Endpoint.parse("http://h") == Endpoint("http", "h:8000")
    assert Endpoint.parse("h:1", protocol="http") == Endpoint("http", "h:1")
    with pytest.raises(ConfigError):
        Endpoint.parse("ftp://h:1")


def test_only_overridden_or_non_default_parameters_are_sent():
    assert tunable_arrays(OCRConfig(), {}) == {}
    config = OCRConfig().with_overrides(text_det={"box_thresh": 0.6, "thresh": 0.2})
    arrays = tunable_arrays(config, {"text_det": {"box_thresh": 0.6}})
    assert sorted(arrays) == ["det_box_thresh", "det_thresh"] and arrays["det_thresh"].dtype == np.float32
    with pytest.raises(ConfigError, match="cannot change per request"):
        check_overrides({"text_det": {"max_candidates": 5}})


@pytest.mark.parametrize(
    "body",
    [
        {"textDetThresh": 0.2, "textDetBoxThresh": 0.5, "textDetUnclipRatio": 2.0, "textRecScoreThresh": 0.1},
        {"textDetLimitSideLen": 736, "textDetLimitType": "min"},
        {"inferenceParams": {"maxLongSide": 1280}},
        {"returnWordBox": True, "textDetThresh": 0.2},
    ],
)
def test_request_overrides_reach_the_server_config_unchanged(body):
    """HTTP fields → overrides → the client's optional tensors → the server's per-request config equals what the
    in-process pipeline makes of the same overrides."""
    overrides = OCRRequest.model_validate({"image": "x", **body}).overrides()
    config = OCRConfig().with_overrides(**overrides)
    arrays = tunable_arrays(config, overrides)
    assert set(arrays) == {t.name for t in contract.TUNABLE_INPUTS if t.given_in(overrides)}
    for tunable in contract.TUNABLE_INPUTS:
        if tunable.name in arrays:
            assert arrays[tunable.name].dtype == contract.NUMPY_TYPES[tunable.datatype]
    served = request_config(OCRConfig(), arrays, contract.TUNABLE_INPUTS)
    assert served.model_dump() == config.model_dump()


class RecordingInput:
    def __init__(self, name: str, shape: list[int], datatype: str) -> None:
        self.name, self.shape, self.datatype = name, shape, datatype

    def set_data_from_numpy(self, array: np.ndarray) -> None:
        self.array = array


FAKE_MODULE = SimpleNamespace(InferInput=RecordingInput, InferRequestedOutput=lambda name: name)


def test_request_tensors_take_the_contracts_types():
    client = OCRClient.__new__(OCRClient)  # no connection: only the request preparation is exercised
    client.config, client.model_set = OCRConfig(), None
    encoded, = client.prepare(text_image(1), text_det={"limit_type": "min", "limit_side_len": 736, "thresh": 0.2})
    assert encoded.entry is contract.OCR_ENTRY
    types = {tensor.name: tensor.datatype for tensor in infer_inputs(FAKE_MODULE, encoded)}
    assert types == {"image": "BYTES", "det_limit_type": "BYTES", "det_limit_side_len": "INT32", "det_thresh": "FP32"}
    raw, = client.prepare(np.zeros((8, 8, 3), np.uint8))
    assert raw.entry is contract.OCR_RAW_ENTRY
    assert [(t.name, t.datatype) for t in infer_inputs(FAKE_MODULE, raw)] == [("image", "UINT8")]
    assert (encoded.model, raw.model) == ("ocr", "ocr_raw")
    v4, = client.prepare(text_image(1), model_set="PP-OCRv4_mobile")
    assert v4.model == "ocr.PP-OCRv4_mobile"
    with pytest.raises(ConfigError, match="unknown model set 'v9'"):
        next(client.prepare(text_image(1), model_set="v9"))


def fake_response(texts: list[str], **outputs: np.ndarray) -> SimpleNamespace:
    """A server answer with ``texts`` (one square polygon each), no words and the classifier's decisions -1, but
    for ``outputs``."""
    arrays = {
        contract.POLYS.name: np.tile(np.array([[0, 0], [9, 0], [9, 9], [0, 9]], np.float32), (len(texts), 1, 1)),
        contract.DET_SCORES.name: np.ones(len(texts), np.float32),
        contract.TEXTS.name: np.array([t.encode() for t in texts], dtype=np.object_),
        contract.REC_SCORES.name: np.ones(len(texts), np.float32),
        contract.LINE_ANGLES.name: np.full(len(texts), -1, np.int32),
        contract.WORD_COUNTS.name: np.zeros(0, np.int32),
        contract.WORD_TEXTS.name: np.zeros(0, dtype=np.object_),
        contract.WORD_POLYS.name: np.zeros((0, 4, 2), np.float32),
        contract.DOC_ANGLE.name: np.array([-1], np.int32),
        **outputs,
    }
    return SimpleNamespace(as_numpy=arrays.__getitem__)


def test_replies_carry_the_words_and_the_classifiers_decisions():
    asked = Request(None, contract.OCR_RAW_ENTRY, {}, np.zeros((9, 9, 3), np.uint8),
                    config=OCRConfig(return_word_box=True))
    polys = np.arange(3 * 8, dtype=np.float32).reshape(3, 4, 2)
    words = {
        contract.WORD_COUNTS.name: np.array([2, 1], np.int32),
        contract.WORD_TEXTS.name: np.array([b"ab", b"cd", "\u4f60".encode()], dtype=np.object_),
        contract.WORD_POLYS.name: polys,
        contract.LINE_ANGLES.name: np.array([0, 1], np.int32),
    }
    result = to_reply(asked, fake_response(["ab cd", "\u4f60"], **words)).result
    assert result["text_word"] == [["ab", "cd"], ["\u4f60"]]
    np.testing.assert_array_equal(result["text_word_region"][0], polys[:2])
    np.testing.assert_array_equal(result["text_word_region"][1], polys[2:])
    assert result["text_word_boxes"][1].tolist() == [[16, 17, 22, 23]]
    assert result["textline_orientation_angles"] == [0, 1]
    with pytest.raises(InferenceError, match="words for 0 of 2 lines"):
        to_reply(asked, fake_response(["ab cd", "\u4f60"]))
    plain = to_reply(Request(None, contract.OCR_RAW_ENTRY, {}, np.zeros((9, 9, 3), np.uint8), config=OCRConfig()),
                     fake_response(["ab cd"])).result
    assert "text_word" not in plain and plain["textline_orientation_angles"] == [-1]


def test_extra_outputs_are_checked_against_the_contract():
    assert requested_outputs(FAKE_MODULE, (contract.DET_INPUT_SIZE,)) == [
        *(spec.name for spec in contract.RESULT_OUTPUTS), contract.DET_INPUT_SIZE
    ]
    with pytest.raises(ConfigError, match="unknown output"):
        requested_outputs(FAKE_MODULE, ("no_such_output",))


class FakeServerError(Exception):
    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self._message, self._status = message, status

    def message(self) -> str:
        return self._message

    def status(self) -> str:
        return self._status


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (FakeServerError("cannot decode", "StatusCode.INVALID_ARGUMENT"), BadInputError),
        (FakeServerError("bad", "400"), BadInputError),
        (FakeServerError("Exceeds maximum queue size", "StatusCode.UNAVAILABLE"), OverloadedError),
        (FakeServerError("failed to connect to all addresses", "StatusCode.UNAVAILABLE"), ServerUnavailableError),
        (ConnectionRefusedError(111, "Connection refused"), ServerUnavailableError),
        (FakeServerError("Deadline Exceeded", "StatusCode.DEADLINE_EXCEEDED"), InferenceTimeoutError),
        (FakeServerError("Stub process 'x_0_0' is not healthy", "StatusCode.INTERNAL"), ModelRecoveringError),
        (FakeServerError("Model 'text_rec' is not ready.", "StatusCode.INTERNAL"), ModelRecoveringError),
        (FakeServerError("Exception serializing request", "StatusCode.INTERNAL"), InferenceError),
    ],
)
def test_client_errors_are_typed(exc, kind):
    assert type(classify(exc)) is kind
    assert issubclass(BadInputError, InvalidImageError)


class FlakyServer:
    """A tritonclient stand-in whose ``infer`` raises ``errors`` in turn, then answers "ok"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls: list[float] = []

    def infer(self, **arguments: object) -> SimpleNamespace:
        import time

        self.calls.append(time.monotonic())
        if self.errors:
            raise self.errors.pop(0)
        return fake_response(["ok"])


def offline_client(server: FlakyServer, recovery_wait_s: float, timeout_s: float = 60.0) -> OCRClient:
    client = OCRClient.__new__(OCRClient)
    client.config, client.model_set, client.module = OCRConfig(), None, FAKE_MODULE
    client.endpoint, client.timeout_s, client.recovery_wait_s = Endpoint("grpc", "h:1"), timeout_s, recovery_wait_s
    client.client = server
    return client


HEALING = FakeServerError("Stub process 'text_det_0_0' is not healthy", "StatusCode.INTERNAL")


def test_a_request_is_sent_again_while_its_model_heals():
    server = FlakyServer(HEALING, FakeServerError("Model 'text_det' is not ready.", "StatusCode.INTERNAL"))
    client = offline_client(server, recovery_wait_s=5.0)
    request, = client.prepare(np.zeros((8, 8, 3), np.uint8))
    reply = client.infer(request)
    assert reply.result["rec_text"] == ["ok"] and reply.attempts == 3
    pauses = np.diff(server.calls)
    assert 0.2 <= pauses[0] <= 0.3 and 0.4 <= pauses[1] <= 0.6  # 0.25 s, then 0.5 s (±20 %)


@pytest.mark.parametrize("wait_s", [0.0, 0.6])
def test_the_wait_for_a_healing_model_is_bounded(wait_s):
    server = FlakyServer(*[HEALING] * 20)
    client = offline_client(server, wait_s)
    request, = client.prepare(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ModelRecoveringError, match="not healthy"):
        client.infer(request)
    assert len(server.calls) == (1 if wait_s == 0 else 2)  # 0.25 s fits in 0.6 s; 0.25 + 0.5 does not
    assert server.calls[-1] - server.calls[0] <= wait_s


def test_the_wait_for_a_healing_model_ends_at_the_time_out():
    server = FlakyServer(*[HEALING] * 20)
    client = offline_client(server, 10.0, timeout_s=0.5)
    request, = client.prepare(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ModelRecoveringError):
        client.infer(request)
    assert len(server.calls) == 2


@pytest.mark.parametrize("error", [FakeServerError("cannot decode", "StatusCode.INVALID_ARGUMENT"),
                                   FakeServerError("Exceeds maximum queue size", "StatusCode.UNAVAILABLE"),
                                   FakeServerError("failed to connect to all addresses", "StatusCode.UNAVAILABLE")])
def test_other_failures_are_not_sent_again(error):
    """Bad input fails alike every time; an overloaded or unreachable server is not helped by more requests."""
    server = FlakyServer(error)
    client = offline_client(server, 10.0)
    request, = client.prepare(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(type(classify(error))):
        client.infer(request)
    assert len(server.calls) == 1


def test_the_async_client_waits_for_a_healing_model_too():
    import asyncio

    from triton_ocr_client import AsyncOCRClient

    class AsyncFlaky(FlakyServer):
        async def infer(self, **arguments: object) -> SimpleNamespace:  # type: ignore[override]
            return FlakyServer.infer(self, **arguments)

    server = AsyncFlaky(HEALING)
    client = AsyncOCRClient.__new__(AsyncOCRClient)
    client.config, client.model_set, client.module = OCRConfig(), None, FAKE_MODULE
    client.endpoint, client.timeout_s, client.recovery_wait_s = Endpoint("grpc", "h:1"), 60.0, 5.0
    client.client = server
    request, = client.prepare(np.zeros((8, 8, 3), np.uint8))
    reply = asyncio.run(client.infer(request))
    assert reply.attempts == 2 and reply.result["rec_text"] == ["ok"]
