"""Run a ``tritonserver`` process serving the OCR repository.

``TritonServer`` installs the binary if needed, plans the repository once (:func:`plan_serving`: the config's
model set and ``model_sets`` beside it, by default every installed set), assembles it,
starts the server on its ports with a private ``/dev/shm`` prefix, and is ready only once a real OCR inference
through every entry has succeeded. A :class:`~triton_ocr.serving.server.supervisor.Supervisor` thread then keeps
it serving (reloads models whose stub died, restarts a dead server).

What a client of Triton's ports reaches is inference, health and metadata: every other API (shared memory, model
configuration and repository, statistics, trace, logging) needs the per-launch admin key, which the server guard
(:mod:`~triton_ocr.serving.server.server_guard`) keeps out of ``/proc``. Triton's HTTP frontend is off unless asked
for (``http=True``): in 2.51 one crafted JSON request aborts the whole server there (a shape of 10¹² elements ends
in ``std::bad_alloc``), while gRPC checks the byte size first; the launcher's own calls go over gRPC.

    with TritonServer.on_free_ports() as server:
        client = OCRClient.from_url(server.grpc_url)
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from triton_ocr.config import OCRConfig
from triton_ocr.serving.repository.assemble import assemble_repository
from triton_ocr.serving.repository.plan import plan_serving
from triton_ocr.serving.repository.profiles import ServingProfile, get_profile
from triton_ocr.serving.server.install import TritonUnavailableError, install_tritonserver, server_environment
from triton_ocr.serving.server.readiness import run_probes
from triton_ocr.serving.server.server_guard import ADMIN_KEY_PLACEHOLDER, build_server_guard, guard_environment
from triton_ocr.serving.server.server_log import ServerLog
from triton_ocr.serving.server.stubs import (
    SHM_PREFIX,
    SHM_ROOT,
    exposed_regions,
    orphaned_regions,
    reclaim_regions,
    regions,
    remove_stale_shm_regions,
    stub_instances,
    stub_processes,
    used_bytes,
)

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
RECLAIM_AFTER_S = 10.0
"""How long a dead stub's region is left alone after its model's reload: a request that was inside the dead instance
waits on it until the server sees the stub dead (~1 s); freed at once, such a request hung for 60 s."""
ADMIN_HEADER = "triton-ocr-admin-key"
"""The header Triton's restricted APIs require, with the launcher's per-launch key: whoever reaches Triton's ports
can infer, but not read shared memory or unload the models."""
GRPC_ADMIN_HEADER = f"triton-grpc-protocol-{ADMIN_HEADER}"
"""The same header as gRPC metadata: Triton's gRPC frontend expects restricted protocols' headers with this prefix."""
RESTRICTED_APIS = ("shared-memory", "model-config", "model-repository", "statistics", "trace", "logging")
"""Everything but ``health``, ``metadata`` and ``inference`` (Triton 2.51's API groups; system and CUDA shared memory
are one group)."""


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct TCP ports that are free on ``host`` right now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def die_with_parent() -> None:
    """In the child before exec: receive SIGTERM when the thread that launched it ends (no orphaned servers)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class TritonServer:
    """A supervised ``tritonserver`` serving the OCR models; use as a context manager or ``start()``/``stop()``."""

    def __init__(
        self,
        config: OCRConfig | None = None,
        profile: str | ServingProfile = "cpu",
        *,
        model_sets: Sequence[str] | None = None,
        repository: Path | None = None,
        host: str = "127.0.0.1",
        http_port: int = 8000,
        grpc_port: int = 8001,
        metrics_port: int = 8002,
        http: bool = False,
        log_file: Path | None = None,
        log_to_console: bool = False,
        wheel_dir: Path | None = None,
        health_interval_s: float = 2.0,
        startup_timeout_s: float = 180.0,
    ) -> None:
        self.profile = get_profile(profile) if isinstance(profile, str) else profile
        self.plan = plan_serving(config or OCRConfig(), self.profile, model_sets)
        self.config = self.plan.config
        self.source_repository = repository
        self.host = host
        self.http_port, self.grpc_port, self.metrics_port = http_port, grpc_port, metrics_port
        self.http = http
        self.log_file = log_file
        self.log_to_console = log_to_console
        self.wheel_dir = wheel_dir
        self.health_interval_s = health_interval_s
        self.startup_timeout_s = startup_timeout_s
        self.shm_prefix = f"{SHM_PREFIX}{os.getpid()}_{secrets.token_hex(4)}_"
        self.admin_key = secrets.token_urlsafe(24)
        self.process: subprocess.Popen | None = None
        self.workdir: Path | None = None
        self.restarts = 0
        self.reloads = 0
        self.reclaimed_bytes = 0
        self._orphans: dict[str, float] = {}
        """Regions of dead stubs that the server keeps: name → when noted."""
        self._stopping = threading.Event()
        self._lifecycle = threading.RLock()
        """Held by a reload or a restart: one at a time, whichever thread asks (a second waits, then acts on the
        server the first left)."""
        self._supervisor: threading.Thread | None = None
        self.instances: set[str] = set()
        """The stub instances seen serving; one missing later has died."""
        self._command: list[str] = []
        self._env: dict[str, str] = {}

    @classmethod
    def on_free_ports(cls, **kwargs: Any) -> TritonServer:
        """A server whose three ports are picked among the free ones of 127.0.0.1."""
        http, grpc, metrics = free_ports(3)
        return cls(http_port=http, grpc_port=grpc, metrics_port=metrics, **kwargs)

    @property
    def client_host(self) -> str:
        return "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host

    @property
    def http_url(self) -> str:
        return f"http://{self.client_host}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"grpc://{self.client_host}:{self.grpc_port}"

    @property
    def admin_headers(self) -> dict[str, str]:
        """The gRPC metadata that opens Triton's restricted APIs (:data:`RESTRICTED_APIS`) for this launch."""
        return {GRPC_ADMIN_HEADER: self.admin_key}

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def command(self, binary: Path, backend_dir: Path, repository: Path) -> list[str]:
        command = [
            str(binary),
            f"--model-repository={repository}",
            f"--backend-directory={backend_dir}",
            "--model-control-mode=explicit",
            "--load-model=*",
            "--disable-auto-complete-config",
            f"--http-address={self.host}",
            f"--grpc-address={self.host}",
            f"--metrics-address={self.host}",
            f"--http-port={self.http_port}",
            f"--grpc-port={self.grpc_port}",
            f"--metrics-port={self.metrics_port}",
            f"--allow-http={str(self.http).lower()}",
            f"--http-restricted-api={','.join(RESTRICTED_APIS)}:{ADMIN_HEADER}={ADMIN_KEY_PLACEHOLDER}",
            f"--grpc-restricted-protocol={','.join(RESTRICTED_APIS)}:{ADMIN_HEADER}={ADMIN_KEY_PLACEHOLDER}",
            "--exit-timeout-secs=10",
            "--log-verbose=0",
            f"--backend-config=python,shm-region-prefix-name={self.shm_prefix}",
            "--backend-config=python,shm-growth-byte-size=16777216",
        ]
        if self.profile.kind == "KIND_CPU":
            command += ["--pinned-memory-pool-byte-size=0", "--allow-gpu-metrics=false"]
        return command

    def start(self) -> TritonServer:
        """Launch the server and return once an OCR inference succeeds (raises TritonUnavailableError if not)."""
        install = install_tritonserver(wheel_dir=self.wheel_dir)
        for region in remove_stale_shm_regions():
            log.warning("removed %s, left behind by a launcher that is gone", region)
        self.workdir = Path(tempfile.mkdtemp(prefix="triton-ocr-"))
        repository = assemble_repository(self.workdir / "models", self.plan, self.source_repository)
        self._command = self.command(install.binary, install.backend_dir, repository)
        self._env = server_environment(install) | guard_environment(build_server_guard(install.root), self.admin_key)
        try:
            self._launch()
            self._wait_until_serving(self.startup_timeout_s)
        except BaseException:
            self.stop()
            raise
        from triton_ocr.serving.server.supervisor import Supervisor

        supervisor = Supervisor(self, self.health_interval_s, self._stopping)
        self._supervisor = threading.Thread(target=supervisor.run, name="triton-supervisor", daemon=True)
        self._supervisor.start()
        return self

    def _launch(self) -> None:
        assert self.workdir is not None
        self.process = subprocess.Popen(
            self._command,
            env=self._env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent if self._launcher_thread_lives_on() else None,
        )
        assert self.process.stdout is not None
        sink = sys.stdout.buffer if self.log_to_console else self.log_path.open("ab")
        ServerLog(self.process.stdout, sink, drop_cuda_stream_errors=self.profile.kind == "KIND_CPU",
                  close_sink=not self.log_to_console)
        log.info("tritonserver pid %d: HTTP %s, gRPC %s", self.process.pid, self.http_url, self.grpc_url)

    def _launcher_thread_lives_on(self) -> bool:
        """Whether the current thread outlives the server (the death signal fires when the forking thread ends)."""
        return threading.current_thread() in (threading.main_thread(), self._supervisor)

    @property
    def log_path(self) -> Path:
        return self.log_file or (self.workdir or Path(tempfile.gettempdir())) / "tritonserver.log"

    def log_tail(self, lines: int = 40) -> str:
        if self.log_to_console or not self.log_path.is_file():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _client(self):  # noqa: ANN202 - tritonclient is imported lazily
        import tritonclient.grpc as grpc

        return grpc.InferenceServerClient(f"{self.client_host}:{self.grpc_port}")

    def probe(self, timeout_s: float = 30.0) -> str | None:
        """One real OCR inference through every entry (the probe image has a text line, so every model runs):
        ``None``, or the first error."""
        try:
            client = self._client()
            try:
                run_probes(client, self.plan.probes, timeout_s)
            finally:
                client.close()
        except Exception as exc:  # noqa: BLE001 - any failure is the answer
            return str(exc) or type(exc).__name__
        return None

    def _wait_until_serving(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        error = "not started"
        while time.monotonic() < deadline and not self._stopping.is_set():
            assert self.process is not None
            if self.process.poll() is not None:
                raise TritonUnavailableError(
                    f"tritonserver exited with code {self.process.returncode}:\n{self.log_tail()}"
                )
            error = self.probe(timeout_s=10.0)
            if error is None:
                self.instances = set(self.stub_processes())
                self.check_guard()
                return
            time.sleep(0.25)
        raise TritonUnavailableError(f"no successful OCR inference within {timeout_s:.0f} s ({error}):\n{self.log_tail()}")

    def check_guard(self) -> None:
        """Raise TritonUnavailableError unless the server guard took effect: the restricted APIs refuse the
        placeholder that ``/proc`` shows and take the key, and no shared-memory region is open to other users."""
        from tritonclient.utils import InferenceServerException

        client = self._client()
        try:
            try:
                client.get_inference_statistics(headers={GRPC_ADMIN_HEADER: ADMIN_KEY_PLACEHOLDER})
            except InferenceServerException:
                pass
            else:
                raise TritonUnavailableError("the server guard is not loaded: the admin key is the placeholder")
            client.get_inference_statistics(headers=self.admin_headers)
        finally:
            client.close()
        exposed = exposed_regions(self.shm_prefix)
        if exposed:
            raise TritonUnavailableError(f"shared-memory regions readable by other users: {sorted(exposed)}")

    def stub_processes(self) -> dict[str, int]:
        """This server's live python stubs: ``{instance name: pid}`` (e.g. ``text_rec_0_0``)."""
        return stub_processes(self.shm_prefix)

    def reload(self, models: Iterable[str], timeout_s: float = 30.0) -> None:
        """Unload and load ``models`` through the repository API, wait until each has new live stubs, end the stubs
        of the unloaded instances that are still there, and give back the memory of regions left behind.

        A load request alone heals only once: Triton skips a load whose config equals the loaded model's (it
        answers "successfully loaded" and initialises no instance), which a load carrying the current config is
        from the second reload of a model on. Unloading first always initialises fresh instances. But the unload
        of a model one of whose stubs is dead leaves the stubs of its other instances running for ever, each with
        its memory (found by ``triton-ocr soak``): they are killed (:meth:`_retire`); and the server keeps the
        regions of the dead and killed stubs mapped: they are noted, for the supervisor to reclaim
        (:meth:`reclaim_orphans`). Raises TritonUnavailableError when a model's stubs do not come back within
        ``timeout_s``. Waits for a reload or restart in progress in another thread.
        """
        from triton_ocr.serving.server.supervisor import model_of

        with self._lifecycle:
            client = self._client()
            try:
                for model in models:
                    log.warning("reloading model %s (unload, load)", model)
                    before = regions(self.shm_prefix)
                    retired = {pid for name, stubs in stub_instances(self.shm_prefix).items()
                               if model_of(name) == model for pid, _ in stubs}
                    config = client.get_model_config(model, headers=self.admin_headers, as_json=True)["config"]
                    started = time.monotonic()
                    client.unload_model(model, headers=self.admin_headers)
                    unloaded = time.monotonic()
                    client.load_model(model, config=json.dumps(config), headers=self.admin_headers)
                    loaded = time.monotonic()
                    self.reloads += 1
                    self._wait_for_stubs(model, retired, loaded + timeout_s)
                    log.warning("reloaded %s: unload %.2f s, load %.2f s, stubs up %.2f s", model,
                                unloaded - started, loaded - unloaded, time.monotonic() - loaded)
                    self._retire(retired)
                    self.note_orphans(before)
            finally:
                client.close()

    def note_orphans(self, candidates: set[str]) -> None:
        """Remember the regions among ``candidates`` that still exist with no stub running on them (the server
        unlinks the regions of instances it unloads cleanly; those of dead stubs it keeps mapped)."""
        orphans = {name for name in candidates & orphaned_regions(self.shm_prefix)
                   if name not in self._orphans and used_bytes(SHM_ROOT / name)}
        self._orphans.update(dict.fromkeys(orphans, time.monotonic()))

    def reclaim_orphans(self, after_s: float = RECLAIM_AFTER_S) -> None:
        """Give back the memory of the regions noted :data:`RECLAIM_AFTER_S` ago or earlier."""
        due = {name for name, noted in self._orphans.items() if time.monotonic() - noted >= after_s}
        if not due:
            return
        freed = reclaim_regions(due)
        for name in due:
            del self._orphans[name]
        if freed:
            self.reclaimed_bytes += sum(freed.values())
            log.warning("gave back %.0f MiB of shared memory that the server kept for %d dead stub(s)",
                        sum(freed.values()) / 2**20, len(freed))

    def _wait_for_stubs(self, model: str, retired: set[int], deadline: float) -> None:
        """Return once every instance of ``model`` seen serving before has a live stub that is not ``retired``."""
        from triton_ocr.serving.server.supervisor import model_of

        expected = {name for name in self.instances if model_of(name) == model}
        while not all(self.stub_processes().get(name) not in retired | {None} for name in expected):
            if time.monotonic() > deadline:
                raise TritonUnavailableError(f"model {model}: no live stub for {sorted(expected)} after the reload")
            time.sleep(0.05)

    def _retire(self, stubs: set[int], grace_s: float = 3.0) -> None:
        """The stubs of unloaded instances: those still running after ``grace_s`` get SIGKILL, and are waited for
        (up to 2 s) so that their regions read as orphaned when :meth:`note_orphans` looks (a region whose killed
        stub was still in the process table then was never noted, and kept its memory: seen once in a CI run)."""
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and set(stubs) & set(self.stub_pids()):
            time.sleep(0.1)
        for pid in set(stubs) & set(self.stub_pids()):
            try:
                os.kill(pid, signal.SIGKILL)
                log.warning("ended stub %d of an unloaded instance (it did not exit)", pid)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and set(stubs) & set(self.stub_pids()):
            time.sleep(0.05)

    def stub_pids(self) -> list[int]:
        """Every running stub of this server, old ones of unloaded instances included."""
        return [pid for stubs in stub_instances(self.shm_prefix).values() for pid, _ in stubs]

    def restart(self) -> None:
        """Start the server process again (stopping it first if it still runs) on the same ports and wait until it
        serves (logged if not). Waits for a reload or restart in progress in another thread: two restarts at once
        would each launch a process, the second finding the first's ports taken."""
        assert self.process is not None
        with self._lifecycle:
            code = self.process.poll()
            log.error("tritonserver %s; restarting", "does not heal" if code is None else f"exited with code {code}")
            self._cleanup_process()
            self.restarts += 1
            self._launch()
            try:
                self._wait_until_serving(self.startup_timeout_s)
            except TritonUnavailableError as exc:
                log.error("restart failed: %s", exc)

    def _cleanup_process(self) -> None:
        """Stop the server process (SIGTERM, then SIGKILL to its whole session) and remove its shm regions."""
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process is not None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for region in SHM_ROOT.glob(f"{self.shm_prefix}*"):
            region.unlink(missing_ok=True)

    def stop(self) -> None:
        """Shut the server down cleanly and delete its runtime files. Safe to call twice."""
        self._stopping.set()
        if self._supervisor is not None and self._supervisor is not threading.current_thread():
            self._supervisor.join()
        self._cleanup_process()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> TritonServer:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
