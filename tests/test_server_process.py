"""The server process's pieces without a server: the binary's wheel members, stale and orphaned shared memory, and
the supervisor's detection of models whose stub died."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from triton_ocr import contract
from triton_ocr.config import OCRConfig
from triton_ocr.serving.server.install import TritonUnavailableError, python_tag, wanted_members
from triton_ocr.serving.server.launcher import TritonServer
from triton_ocr.serving.server.stubs import reclaim_regions, remove_stale_shm_regions, used_bytes
from triton_ocr.serving.server.supervisor import Supervisor, model_of, unhealthy_models

RELOADABLE = (contract.DET_PREPROCESS, contract.TEXT_DET, contract.TEXT_REC, contract.OCR_POSTPROCESS)
INSTANCES = {"det_preprocess_0_0", "text_det_0_0", "text_rec_0_0", "ocr_postprocess_0_0", "ocr_postprocess_0_1"}


def test_a_missing_stub_names_its_model():
    live = INSTANCES - {"ocr_postprocess_0_1"}
    assert unhealthy_models(INSTANCES, live, None, RELOADABLE) == {contract.OCR_POSTPROCESS}
    assert unhealthy_models(INSTANCES, INSTANCES, None, RELOADABLE) == set()
    assert unhealthy_models(INSTANCES, set(), None, RELOADABLE) == set(RELOADABLE)


def test_a_failed_probe_names_the_unhealthy_stub():
    error = "in ensemble 'ocr', Stub process 'text_rec_0_1' is not healthy."
    assert unhealthy_models(INSTANCES, INSTANCES, error, RELOADABLE) == {contract.TEXT_REC}
    assert unhealthy_models(INSTANCES, INSTANCES, "connection refused", RELOADABLE) == set()


def test_only_reloadable_models_are_named():
    error = "Stub process 'ocr_0_0' is not healthy"  # an ensemble has no instances to reload
    assert unhealthy_models({"mystery_model_0_0"}, set(), error, RELOADABLE) == set()
    assert model_of("textline_orientation_0_3") == "textline_orientation"


def test_only_the_needed_wheel_members_are_extracted():
    root = "pytriton/tritonserver/"
    names = [
        f"{root}bin/tritonserver",
        f"{root}backends/python/libtriton_python.so",
        f"{root}python_backend_stubs/{python_tag()}/triton_python_backend_stub",
        f"{root}python_backend_stubs/3.8/triton_python_backend_stub",
        "nvidia_pytriton.libs/libtritonserver-1.so",
        "nvidia_pytriton.libs/libpython3-2.13.so.1.0",
        "pytriton/client/client.py",
    ]
    assert sorted(wanted_members(names).values()) == [
        "backends/python/libtriton_python.so",
        "backends/python/triton_python_backend_stub",
        "bin/tritonserver",
        "lib/libtritonserver-1.so",
    ]
    with pytest.raises(TritonUnavailableError):
        wanted_members([f"{root}bin/tritonserver"])


def test_stale_shared_memory_of_dead_launchers_is_removed(tmp_path):
    child = subprocess.Popen(["true"])
    child.wait()
    dead_pid = child.pid
    stale = tmp_path / f"triton_ocr_{dead_pid}_ab_region"
    alive = tmp_path / f"triton_ocr_{os.getpid()}_cd_region"
    other = tmp_path / "someone_else"
    for path in (stale, alive, other):
        path.write_bytes(b"")
    assert remove_stale_shm_regions(tmp_path) == [stale]
    assert alive.exists() and other.exists()


def test_serve_on_every_interface_keeps_triton_on_loopback(monkeypatch):
    """``serve --host 0.0.0.0`` opens the gateway, not Triton (``--triton-host``, default 127.0.0.1); Triton's HTTP
    frontend is off unless ``--triton-http``; every API but inference, health and metadata needs the launcher's key
    on HTTP and gRPC, and the command line (world-readable in /proc) holds a placeholder, not the key."""
    import argparse

    import triton_ocr.serving.server.command as command
    import triton_ocr.serving.server.launcher as launcher

    seen: dict[str, object] = {}

    class Recording(launcher.TritonServer):
        def start(self) -> launcher.TritonServer:
            seen["triton"], seen["key"] = self.host, self.admin_key
            seen["command"] = self.command(launcher.Path("tritonserver"), launcher.Path("b"), launcher.Path("r"))
            raise KeyboardInterrupt

    monkeypatch.setattr(launcher, "TritonServer", Recording)
    monkeypatch.setattr(command.signal, "signal", lambda *args: None)
    primary = OCRConfig().model_set
    parser = argparse.ArgumentParser()
    command.configure(parser)
    apis = "shared-memory,model-config,model-repository,statistics,trace,logging"
    for argv, triton_host, http in ((["--host", "0.0.0.0"], "127.0.0.1", "false"),
                                    (["--host", "0.0.0.0", "--triton-host", "10.1.2.3"], "10.1.2.3", "false"),
                                    (["--triton-http"], "127.0.0.1", "true")):
        assert command.run(parser.parse_args([*argv, "--models", primary])) == 0
        assert seen["triton"] == triton_host
        flags = [f for f in seen["command"] if "-address=" in f]
        assert flags == [f"--{kind}-address={triton_host}" for kind in ("http", "grpc", "metrics")]
        assert f"--allow-http={http}" in seen["command"]
        restricted = [f for f in seen["command"] if "restricted" in f]
        assert [f.split("=", 1)[0] for f in restricted] == ["--http-restricted-api", "--grpc-restricted-protocol"]
        assert all(f.endswith(f"={apis}:{launcher.ADMIN_HEADER}=@TRITON_OCR_ADMIN_KEY@") for f in restricted)
        assert not any(str(seen["key"]) in f for f in seen["command"])
        assert len(str(seen["key"])) >= 32


def test_reclaimed_regions_give_their_memory_back_and_read_as_zeros(tmp_path):
    """A region the server keeps mapped after its stub was killed: its pages go, its name and size stay, and a
    mapping of it reads zeros afterwards (no SIGBUS should the server touch it)."""
    import mmap

    region = tmp_path / "triton_ocr_1_ab_7"
    region.write_bytes(b"\x01" * (4 << 20))
    with region.open("r+b") as file, mmap.mmap(file.fileno(), 0) as mapped:
        assert used_bytes(region) >= 4 << 20
        freed = reclaim_regions([region.name, "triton_ocr_1_ab_gone"], root=tmp_path)
        assert list(freed) == [region.name] and freed[region.name] >= 4 << 20
        assert used_bytes(region) == 0 and region.stat().st_size == 4 << 20
        assert mapped[:16] == bytes(16) and mapped[-1] == 0


def test_regions_that_go_while_they_are_read_count_as_empty_and_private(tmp_path):
    """The server unlinks a region between its listing and its reading (seen in CI: a retired stub's region went
    while the reload noted orphans, and the reload failed into a server restart)."""
    from triton_ocr.serving.server.stubs import exposed_regions

    shared, private = tmp_path / "triton_ocr_1_ab_1", tmp_path / "triton_ocr_1_ab_2"
    for path, mode in ((shared, 0o644), (private, 0o600)):
        path.write_bytes(b"\x01" * 8192)
        path.chmod(mode)
    assert used_bytes(tmp_path / "triton_ocr_1_ab_gone") == 0
    assert exposed_regions("triton_ocr_1_ab_", root=tmp_path) == {shared.name}
    shared.unlink()
    assert exposed_regions("triton_ocr_1_ab_", root=tmp_path) == set()


def unstarted_server() -> TritonServer:
    return TritonServer(http_port=1, grpc_port=2, metrics_port=3)


def test_a_reload_does_not_fail_on_a_region_the_server_unlinks_meanwhile(monkeypatch):
    from triton_ocr.serving.server import launcher
    from triton_ocr.serving.server.stubs import SHM_ROOT

    server = unstarted_server()
    gone, kept = f"{server.shm_prefix}gone", f"{server.shm_prefix}kept"
    monkeypatch.setattr(launcher, "orphaned_regions", lambda prefix: {gone, kept})  # listed, then `gone` goes
    (SHM_ROOT / kept).write_bytes(b"\x01" * 8192)
    try:
        server.note_orphans({gone, kept})
    finally:
        (SHM_ROOT / kept).unlink()
    assert list(server._orphans) == [kept]


class FakeAdminClient:
    """The repository API of a server that ``events`` watches."""

    def __init__(self, events: list[str]) -> None:
        self.events = events

    def get_model_config(self, model: str, headers: dict, as_json: bool) -> dict:
        return {"config": {"name": model}}

    def unload_model(self, model: str, headers: dict) -> None:
        self.events.append(f"unload {model}")

    def load_model(self, model: str, config: str, headers: dict) -> None:
        self.events.append(f"load {model}")

    def close(self) -> None:
        pass


def test_reloads_and_restarts_from_two_threads_take_turns(monkeypatch):
    """The supervisor restarts the server while another thread heals a model (a test's own supervisor, in the CI
    run that found this): the reload waits for the restart instead of reloading a server being replaced, and two
    restarts never launch two processes on the same ports."""
    server = unstarted_server()
    events: list[str] = []
    server.process = subprocess.Popen(["true"])
    server.process.wait()

    def slow(step: str):
        def act(*args: object) -> None:
            events.append(f"{step} begins")
            time.sleep(0.3)
            events.append(f"{step} ends")
        return act

    monkeypatch.setattr(server, "_cleanup_process", lambda: None)
    monkeypatch.setattr(server, "_launch", slow("launch"))
    monkeypatch.setattr(server, "_wait_until_serving", lambda timeout_s: None)
    monkeypatch.setattr(server, "_client", lambda: FakeAdminClient(events))
    monkeypatch.setattr(server, "_wait_for_stubs", lambda *args: None)
    monkeypatch.setattr(server, "_retire", lambda stubs: None)
    first = threading.Thread(target=server.restart)
    first.start()
    time.sleep(0.1)
    second = threading.Thread(target=server.restart)
    third = threading.Thread(target=server.reload, args=(["text_rec"],))
    second.start()
    third.start()
    for thread in (first, second, third):
        thread.join()
    assert server.restarts == 2 and server.reloads == 1
    assert events[:2] == ["launch begins", "launch ends"]
    steps = [event.rsplit(" ", 1)[0] for event in events]
    assert sorted(zip(steps[::2], steps[1::2])) == [("launch", "launch"), ("launch", "launch"), ("unload", "load")]


class SlowProbeServer:
    """A stand-in for TritonServer: one instance whose stub dies at ``dies_at``; every probe takes 5 s."""

    def __init__(self, dies_at: float) -> None:
        self.process = subprocess.Popen(["sleep", "30"])
        self.plan = type("Plan", (), {"reloadable": ("text_det",)})()
        self.instances = {"text_det_0_0"}
        self.dies_at = dies_at
        self.healed: list[float] = []

    def stub_processes(self) -> dict[str, int]:
        return {} if time.monotonic() >= self.dies_at and not self.healed else {"text_det_0_0": 1}

    def probe(self) -> str | None:
        time.sleep(5)
        return None

    def reload(self, models: list[str]) -> None:
        self.healed.append(time.monotonic())

    def reclaim_orphans(self) -> None:
        pass


def test_a_dead_stub_is_healed_while_a_slow_probe_runs():
    """Under load a probe waits in the models' queues for seconds; the soak measured 8–10 s recoveries when the
    process-table check waited for it. The probe runs in its own thread: the dead stub is reloaded within ~0.25 s."""
    server = SlowProbeServer(dies_at=time.monotonic() + 0.6)  # the first probe starts at 0.5 s and runs until 5.5 s
    stopping = threading.Event()
    thread = threading.Thread(target=Supervisor(server, 0.5, stopping).run)
    thread.start()
    try:
        deadline = time.monotonic() + 3
        while not server.healed and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stopping.set()
        thread.join()
        server.process.kill()
    assert server.healed and server.healed[0] - server.dies_at < 0.6, server.healed


MALLOC_PROBE = """
import ctypes, os, sys
from triton_ocr.heap import apply_malloc_settings
for name in ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_"):
    os.environ.pop(name, None)
applied = apply_malloc_settings() if sys.argv[1] == "applied" else {}
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
def rss():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1]) >> 10
libc.free(libc.malloc(16 << 20))  # glibc's own rule: a freed 16 MiB mapping lifts its mmap threshold to 16 MiB
blocks = [libc.malloc(4 << 20) for _ in range(16)]
for block in blocks:
    libc.memset(block, 1, 4 << 20)
pin = libc.malloc(200 << 10)  # above the blocks: keeps the heap from being trimmed
libc.memset(pin, 1, 200 << 10)
before = rss()
for block in blocks:
    libc.free(block)
print(applied, before - rss())
"""


@pytest.mark.parametrize("mode, returned", [("applied", True), ("default", False)])
def test_the_gateway_gives_large_buffers_back(mode, returned):
    """``triton-ocr gateway`` may start without MALLOC_* in its environment (glibc reads it before the command
    runs): the settings are applied with ``mallopt``. 64 MiB of 4 MiB buffers go back when freed;
    with glibc's defaults (after one large free lifted its threshold) they stay in the heap."""
    done = subprocess.run([sys.executable, "-c", MALLOC_PROBE, mode], capture_output=True, text=True, check=True)
    applied, freed = done.stdout.rsplit(" ", 1)
    assert (applied != "{}") == returned and (int(freed) >= 60) == returned, done.stdout


HEAP_REUSE_PROBE = """
import ctypes, resource
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
libc.prctl(41, 1, 0, 0, 0)  # PR_SET_THP_DISABLE: 4 KiB pages, so the count does not depend on the host's THP mode
faults = []
for _ in range(5):  # a request's 16 MiB buffer (a decoded page, a probability map): below the mmap threshold
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = libc.malloc(16 << 20)
    libc.memset(block, 1, 16 << 20)
    libc.free(block)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(max(faults[1:]))
"""


@pytest.mark.parametrize("trim", [True, False])
def test_the_served_processes_reuse_their_heap_between_requests(trim):
    """``MALLOC_SETTINGS``: with the mmap threshold set explicitly glibc no longer adapts its trim threshold
    (128 KiB), so without ``MALLOC_TRIM_THRESHOLD_`` every freed request buffer at the top of the heap went back to
    the system and the next request faulted its pages in again (16 MiB: 4096 faults of 4 KiB); with it the
    memory is reused."""
    from triton_ocr.heap import MALLOC_SETTINGS

    settings = dict(MALLOC_SETTINGS) if trim else {k: v for k, v in MALLOC_SETTINGS.items() if "TRIM" not in k}
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")} | settings
    done = subprocess.run([sys.executable, "-c", HEAP_REUSE_PROBE], env=environment, capture_output=True, text=True,
                          check=True)
    faults = int(done.stdout)
    assert (faults < 64) if trim else (faults > 1000), faults
