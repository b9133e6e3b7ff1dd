"""Fault suite (issue 15): every stub killed twice heals each time, within 5 s, and every failed answer in between
is the transient kind (503 + Retry-After in the gateway), never an internal error; malformed model inputs are
refused without poisoning the model. The server kill (a restart: ~10 s here) runs under ``slow``."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter

import numpy as np
import pytest
from triton_fixtures import start_server, stub_pids, text_image

from triton_ocr import contract
from triton_ocr.gateway.errors import http_error
from triton_ocr_client import OCRClient
from triton_ocr_client.errors import ClientError, ModelRecoveringError, ServerUnavailableError, classify

RECOVERY_S = 5.0


@pytest.fixture(scope="module")
def server():
    yield from start_server(health_interval_s=1.0, http=True)


def outage(server, client: OCRClient, victims: list[int], image: bytes, limit_s: float) -> tuple[float, Counter]:  # noqa: ANN001
    """Kill ``victims`` (SIGKILL), then send ``image`` until an answer comes: (seconds to it, failures by type)."""
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    start, failures = time.monotonic(), Counter()
    while time.monotonic() - start < limit_s:
        try:
            next(iter(client.predict(image)))
            return time.monotonic() - start, failures
        except ClientError as exc:
            failures[type(exc).__name__] += 1
            print(f"{time.monotonic() - start:.2f}s {type(exc).__name__}: {exc}")
        time.sleep(0.1)
    raise AssertionError(f"no answer {limit_s:g} s after the kill; failures {dict(failures)}")


@pytest.mark.triton
@pytest.mark.parametrize(
    "model", [contract.TEXT_REC, contract.OCR_POSTPROCESS, contract.TEXT_DET, contract.DET_PREPROCESS]
)
def test_each_stub_killed_twice_heals_each_time(server, model):
    client = OCRClient.from_url(server.grpc_url)
    image = text_image(3, lines=2)
    expected = next(iter(client.predict(image)))["rec_text"]
    for kill in (1, 2):
        victims = stub_pids(server, model)  # every instance: no live sibling may hide a missing heal
        assert victims, f"{model} has no stub"
        seconds, failures = outage(server, client, victims, image, limit_s=30.0)
        assert seconds < RECOVERY_S, f"{model} kill {kill}: answered after {seconds:.1f} s"
        assert set(failures) <= {ModelRecoveringError.__name__, ServerUnavailableError.__name__}, failures
        assert next(iter(client.predict(image)))["rec_text"] == expected
        assert not set(victims) & set(stub_pids(server, model))
    client.close()


@pytest.mark.triton
def test_a_request_sent_at_a_kill_is_answered_once_the_model_heals(server):
    """The client library sends a request again while the model it needs reloads (``recovery_wait_s``); without
    that wait the same request fails with ``ModelRecoveringError``. Each request is sent right after its own kill:
    the supervisor needs at least 0.25 s to see a dead stub, so it meets the dead model."""
    image = text_image(5, lines=2)
    with OCRClient.from_url(server.grpc_url) as client, \
            OCRClient.from_url(server.grpc_url, recovery_wait_s=0) as impatient:
        expected = next(iter(client.predict(image)))["rec_text"]
        request, = client.prepare(image)
        for pid in stub_pids(server, contract.TEXT_DET):
            os.kill(pid, signal.SIGKILL)
        reply = client.infer(request)
        assert reply.result["rec_text"] == expected and reply.attempts >= 2
        outage(server, client, [], image, limit_s=30.0)  # healed
        for pid in stub_pids(server, contract.TEXT_DET):
            os.kill(pid, signal.SIGKILL)
        with pytest.raises(ModelRecoveringError):
            impatient.infer(request)
        outage(server, client, [], image, limit_s=30.0)


@pytest.mark.triton
def test_one_instance_killed_leaves_no_stub_behind(server):
    """Found by ``triton-ocr soak``: reloading a model one of whose three stubs was killed left the other two
    instances' old stubs running for ever (~250 MiB each), and a later kill of a new stub went unseen by the process
    table (its name still had a live, old stub). After each heal every instance has one stub again."""
    from triton_ocr.serving.server.stubs import stub_instances

    client = OCRClient.from_url(server.grpc_url)
    image = text_image(2, lines=2)
    for instance in ("ocr_postprocess_0_1", "ocr_postprocess_0_0"):
        seconds, failures = outage(server, client, [server.stub_processes()[instance]], image, limit_s=30.0)
        assert seconds < RECOVERY_S and set(failures) <= {ModelRecoveringError.__name__}, (seconds, failures)
        deadline = time.monotonic() + 10
        while not one_stub_each(stub_instances(server.shm_prefix)):
            assert time.monotonic() < deadline, stub_instances(server.shm_prefix)
            time.sleep(0.2)
        assert next(iter(client.predict(image)))["rec_text"]
    client.close()


@pytest.mark.triton
def test_the_memory_of_killed_stubs_is_given_back(server):
    """Triton keeps a killed stub's /dev/shm region, and its memory, for ever (each kill above left 1–50 MiB, after
    large pages up to ~180 MiB, in ``tritonserver``); the supervisor gives it back ``RECLAIM_AFTER_S`` after the
    reload. Runs after the kills above."""
    from triton_ocr.serving.server.launcher import RECLAIM_AFTER_S
    from triton_ocr.serving.server.stubs import SHM_ROOT, orphaned_regions, used_bytes

    deadline = time.monotonic() + RECLAIM_AFTER_S + 10  # the reload notes them after its stubs are retired
    while True:
        orphans = orphaned_regions(server.shm_prefix)
        held = {name: used_bytes(SHM_ROOT / name) for name in orphans}  # a region gone meanwhile holds 0
        if orphans and not any(held.values()):
            break
        assert time.monotonic() < deadline, f"regions of dead stubs still hold memory: {held}"
        time.sleep(0.2)
    assert server.reclaimed_bytes >= len(orphans) * 2**20 // 2, (server.reclaimed_bytes, len(orphans))
    assert next(iter(OCRClient.from_url(server.grpc_url).predict(text_image(5, lines=2))))["rec_text"]


def one_stub_each(stubs: dict[str, list]) -> bool:
    return {name for name in stubs if name.startswith("ocr_postprocess")} == {
        f"ocr_postprocess_0_{i}" for i in range(3)} and all(len(pids) == 1 for pids in stubs.values())


@pytest.mark.triton
def test_poisoning_inputs_are_refused_and_the_model_keeps_serving(server):
    """[1,3,48,2] to text_rec and pixels [1,31,33,3] to text_det: INVALID_ARGUMENT, and the last good shape still
    runs."""
    import tritonclient.http as http

    client = http.InferenceServerClient(f"127.0.0.1:{server.http_port}")
    for model, good, bad in ((contract.TEXT_REC, (1, 3, 48, 320), (1, 3, 48, 2)),
                             (contract.TEXT_DET, (1, 320, 320, 3), (1, 31, 33, 3))):
        metadata = client.get_model_metadata(model)["inputs"][0]
        name, datatype = metadata["name"], metadata["datatype"]

        def infer(shape: tuple[int, ...]) -> dict:
            tensor = http.InferInput(name, list(shape), datatype)
            data = np.random.default_rng(0).random(shape, dtype=np.float32)
            tensor.set_data_from_numpy(data if datatype == "FP32" else (data * 255).astype(np.uint8))
            return client.infer(model, [tensor]).get_response()

        first = infer(good)
        for _ in range(2):
            with pytest.raises(Exception, match="cannot run") as caught:
                infer(bad)
            assert classify(caught.value).__class__.__name__ == "BadInputError"
        assert infer(good)["outputs"][0]["shape"] == first["outputs"][0]["shape"]
        assert infer(good)["outputs"][0]["shape"] == first["outputs"][0]["shape"]
    client.close()


def restricted_calls(client) -> dict[str, object]:  # noqa: ANN001 - a tritonclient http or grpc client
    """One call of each restricted API group (Triton 2.51's), by name: each takes ``headers``."""
    return {
        "model-config": lambda h: client.get_model_config(contract.TEXT_REC, headers=h),
        "model-repository index": lambda h: client.get_model_repository_index(headers=h),
        "model-repository unload": lambda h: client.unload_model(contract.TEXT_REC, headers=h),
        "statistics": lambda h: client.get_inference_statistics(headers=h),
        "shared-memory status": lambda h: client.get_system_shared_memory_status(headers=h),
        "cuda shared-memory status": lambda h: client.get_cuda_shared_memory_status(headers=h),
        "shared-memory register": lambda h: client.register_system_shared_memory("x", "/x", 64, headers=h),
        "trace": lambda h: client.get_trace_settings(headers=h),
        "logging": lambda h: client.get_log_settings(headers=h),
        "logging update": lambda h: client.update_log_settings({"log_verbose_level": 1}, headers=h),
    }


@pytest.mark.triton
def test_only_inference_health_and_metadata_answer_without_the_key(server):
    """On HTTP and gRPC alike every other API is refused without the launcher's key and with a wrong one (or the
    placeholder /proc shows); with the key they answer (the supervisor's reloads use it)."""
    import tritonclient.grpc as grpc
    import tritonclient.http as http

    from triton_ocr.serving.server.launcher import ADMIN_HEADER, GRPC_ADMIN_HEADER
    from triton_ocr.serving.server.server_guard import ADMIN_KEY_PLACEHOLDER

    for client, header in ((http.InferenceServerClient(f"127.0.0.1:{server.http_port}"), ADMIN_HEADER),
                           (grpc.InferenceServerClient(f"127.0.0.1:{server.grpc_port}"), GRPC_ADMIN_HEADER)):
        for name, call in restricted_calls(client).items():
            for headers in (None, {header: "wrong"}, {header: ADMIN_KEY_PLACEHOLDER}):
                with pytest.raises(Exception, match="restricted") as refused:
                    call(headers)
                print(type(client).__module__, name, refused.value)
        assert client.get_inference_statistics(headers={header: server.admin_key})
        assert client.is_server_live() and client.is_model_ready(contract.TEXT_REC)
        assert client.get_model_metadata(contract.OCR)
        client.close()
    assert next(iter(OCRClient.from_url(server.grpc_url).predict(text_image(1))))["rec_text"]


@pytest.mark.triton
def test_the_shared_memory_attacks_get_nothing(server):
    """Issue 20's attack A: a client registers the python backend's own region (its name is on the stub's command
    line) to read a previous request's image, or to write into it. Registration is refused on both protocols; the
    region is its owner's alone (0600: the server guard drops boost's 0644); the server keeps answering right."""
    import tritonclient.grpc as grpc
    import tritonclient.http as http

    client = OCRClient.from_url(server.grpc_url)
    image = text_image(5, lines=2)
    expected = next(iter(client.predict(image)))["rec_text"]
    stub = stub_pids(server, contract.DET_PREPROCESS)[0]
    region = next(arg for arg in open(f"/proc/{stub}/cmdline", "rb").read().decode().split("\0")
                  if arg.startswith(server.shm_prefix))
    size = os.stat(f"/dev/shm/{region}").st_size
    for raw in (http.InferenceServerClient(f"127.0.0.1:{server.http_port}"),
                grpc.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")):
        with pytest.raises(Exception, match="restricted"):
            raw.register_system_shared_memory("stolen", f"/{region}", size)
        with pytest.raises(Exception, match="restricted"):
            raw.register_system_shared_memory("stolen", f"/{region}", size, offset=0)
        raw.close()
    modes = {name: os.stat(f"/dev/shm/{name}").st_mode & 0o777 for name in os.listdir("/dev/shm")
             if name.startswith(server.shm_prefix)}
    assert modes and set(modes.values()) == {0o600}, modes
    assert server.process.poll() is None
    assert next(iter(client.predict(image)))["rec_text"] == expected
    client.close()


def as_nobody(*command: str) -> subprocess.CompletedProcess:
    """``command`` run as another local user (uid/gid 65534, no groups)."""
    return subprocess.run(command, user=65534, group=65534, extra_groups=[], capture_output=True, timeout=30)


@pytest.mark.triton
@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another user needs root (CI runs as root)")
def test_another_local_user_cannot_read_the_key_or_the_images(server):
    """The key is given to Triton through its environment (owner-only, wiped at start) and the server guard
    puts it into the arguments in place of a placeholder: /proc/PID/cmdline shows the placeholder, environ and the
    shared-memory regions cannot be opened by another user."""
    cmdline = as_nobody("cat", f"/proc/{server.pid}/cmdline")
    assert cmdline.returncode == 0 and b"@TRITON_OCR_ADMIN_KEY@" in cmdline.stdout
    assert server.admin_key.encode() not in cmdline.stdout
    assert server.admin_key.encode() not in open(f"/proc/{server.pid}/environ", "rb").read()  # wiped, even for root
    environ = as_nobody("cat", f"/proc/{server.pid}/environ")
    assert environ.returncode != 0 and b"Permission denied" in environ.stderr
    for stub in stub_pids(server, contract.TEXT_REC):
        assert server.admin_key.encode() not in open(f"/proc/{stub}/environ", "rb").read()
    region = next(name for name in os.listdir("/dev/shm") if name.startswith(server.shm_prefix))
    read = as_nobody("head", "-c", "16", f"/dev/shm/{region}")
    assert read.returncode != 0 and b"Permission denied" in read.stderr


@pytest.mark.triton
def test_a_shape_of_a_trillion_pixels_does_not_reach_the_server_over_grpc(server):
    """Issue 20's D: an ``ocr_raw`` image declaring 1000000 × 1000000 × 3 aborted Triton over HTTP JSON (off
    where ``serve`` runs it); over gRPC, the port ``serve`` and the chart expose, it is INVALID_ARGUMENT before any
    allocation, and the server keeps serving."""
    import tritonclient.grpc as grpc
    from tritonclient.grpc import service_pb2

    restarts, pid = server.restarts, server.pid
    raw = grpc.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
    request = service_pb2.ModelInferRequest(model_name=contract.OCR_RAW)
    tensor = request.inputs.add(name=contract.IMAGE, datatype="UINT8")
    tensor.shape.extend([1000000, 1000000, 3])
    request.raw_input_contents.append(b"\0" * 27)
    for _ in range(3):
        with pytest.raises(Exception, match=r"(?s)INVALID_ARGUMENT.*byte size mismatch for input 'image' "
                           r"for model 'ocr_raw'\. Expected 3000000000000, got 27"):
            raw._client_stub.ModelInfer(request, timeout=30)
    raw.close()
    assert server.process.poll() is None and (server.restarts, server.pid) == (restarts, pid)
    assert next(iter(OCRClient.from_url(server.grpc_url).predict(text_image(1))))["rec_text"]


@pytest.mark.triton
def test_internal_models_answer_bad_sizes_as_bad_input(server):
    """``ocr_postprocess`` called directly with a negative ``det_input_size`` (an INTERNAL OpenCV error before):
    INVALID_ARG naming the input; the model keeps serving."""
    import tritonclient.grpc as grpc

    raw = grpc.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
    tensors = {contract.PROB_MAP: np.zeros((1, 1, 64, 64), np.float32),
               contract.DECODED_IMAGE: np.zeros((64, 64, 3), np.uint8),
               contract.DET_INPUT_SIZE: np.array([-5, 40], np.int32),
               contract.DOC_ANGLE.name: np.array([-1], np.int32)}
    inputs = []
    for name, array in tensors.items():
        inputs.append(grpc.InferInput(name, list(array.shape), {"float32": "FP32", "uint8": "UINT8"}.get(
            str(array.dtype), "INT32")))
        inputs[-1].set_data_from_numpy(array)
    with pytest.raises(Exception, match="det_input_size must be two sizes") as caught:
        raw.infer(contract.OCR_POSTPROCESS, inputs)
    assert "INVALID_ARG" in str(caught.value) or "StatusCode.INVALID_ARGUMENT" in str(caught.value)
    raw.close()
    assert next(iter(OCRClient.from_url(server.grpc_url).predict(text_image(1))))["rec_text"]


@pytest.mark.triton
def test_the_readiness_check_fails_while_a_stub_is_dead(server, capsys):
    """The chart's Triton readiness/liveness exec probe: a real inference, so a dead stub fails it (Triton's
    /v2/health/ready stays green for a dead stub); healed, it passes again."""
    from triton_ocr.serving.server.readiness import main as readiness

    url = f"127.0.0.1:{server.grpc_port}"
    assert readiness(["--url", url]) == 0
    client = OCRClient.from_url(server.grpc_url)
    for _ in range(3):  # the supervisor heals within ~1 s: on a busy machine it may beat the check to it
        for pid in stub_pids(server, contract.TEXT_REC):
            os.kill(pid, signal.SIGKILL)
        failed = readiness(["--url", url, "--timeout", "5"]) == 1
        outage(server, client, [], text_image(1), limit_s=30.0)
        if failed:
            break
    assert failed and "not ready" in capsys.readouterr().err
    deadline = time.monotonic() + 15  # requests routed to the unloaded instance may fail a few seconds more
    while readiness(["--url", url]) != 0:
        assert time.monotonic() < deadline, "still not ready 15 s after the heal"
        time.sleep(0.5)
    client.close()


@pytest.mark.triton
@pytest.mark.slow
def test_killed_server_restarts_and_clients_come_back(server):
    client = OCRClient.from_url(server.grpc_url)
    image = text_image(4, lines=2)
    seconds, failures = outage(server, client, [server.pid], image, limit_s=90.0)
    assert set(failures) <= {ServerUnavailableError.__name__, ModelRecoveringError.__name__}, failures
    assert server.restarts == 1 and seconds < 30.0
    # the first stub kill after a restart heals too (it did not before issue 15)
    seconds, failures = outage(server, client, stub_pids(server, contract.TEXT_REC), image, limit_s=30.0)
    assert seconds < RECOVERY_S
    client.close()


class TritonLikeError(Exception):
    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self._status = status

    def message(self) -> str:
        return str(self)

    def status(self) -> str:
        return self._status


@pytest.mark.parametrize(
    "message",
    [
        "in ensemble 'ocr', Stub process 'text_rec_0_0' is not healthy.",
        "Request for unknown model: 'ocr' has no available versions",
        "in ensemble 'ocr', Model text_rec - Error when running inference: Failed for execute the inference request. "
        "Model 'text_rec' is not ready.",
    ],
)
def test_transient_failures_are_503_with_retry_after(message):
    """A dead stub or a model being reloaded was a 500 "internal error"; it is a 503 the caller may retry."""
    error = classify(TritonLikeError(message, "StatusCode.INTERNAL"))
    assert isinstance(error, ModelRecoveringError)
    answer = http_error(error, retry_after_s=1)
    assert answer is not None and (answer.status, answer.headers) == (503, {"Retry-After": "1"})
