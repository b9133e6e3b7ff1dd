"""Resident memory of the serving processes: ``tritonserver``, each python stub by instance name, the gateway.

RSS counts shared pages (libraries, the python backend's ``/dev/shm`` regions) once per process, so a sum over
processes overstates the machine's use a little; it is what ``ps`` and Kubernetes' per-container figures show.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import psutil

MiB = 1024 * 1024

ProcessMap = Callable[[], dict[str, int]]
"""Returns ``{label: pid}`` of the processes to measure (asked again at every sample: stubs may be replaced)."""


def triton_processes(server) -> ProcessMap:  # noqa: ANN001 - a TritonServer
    """``tritonserver`` and its python stubs (``text_rec_0_0``, ...)."""

    def processes() -> dict[str, int]:
        found = {"tritonserver": server.pid} if server.pid else {}
        found.update(server.stub_processes())
        return found

    return processes


def fixed_processes(**pids: int) -> ProcessMap:
    """``{label: pid}``, and each process's descendants as ``{label}_child_{i}`` (grouped under ``label`` by
    :func:`cpu_seconds`): an engine that runs in a child process (RapidOCR 3.10) is counted in its worker's row."""

    def processes() -> dict[str, int]:
        found = dict(pids)
        for label, pid in pids.items():
            try:
                children = psutil.Process(pid).children(recursive=True)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            found.update({f"{label}_child_{i}": child.pid for i, child in enumerate(children)})
        return found

    return processes


def combined(*maps: ProcessMap) -> ProcessMap:
    def processes() -> dict[str, int]:
        found: dict[str, int] = {}
        for each in maps:
            found.update(each())
        return found

    return processes


def cpu_seconds(processes: ProcessMap) -> dict[str, float]:
    """``{group: user + system CPU seconds}`` so far, stubs grouped by model (``text_rec_0_1`` → ``text_rec``)."""
    totals: dict[str, float] = {}
    for label, pid in processes().items():
        try:
            times = psutil.Process(pid).cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        group = label.rsplit("_", 2)[0] if label.count("_") >= 2 and label.rsplit("_", 2)[-1].isdigit() else label
        totals[group] = totals.get(group, 0.0) + times.user + times.system
    return totals


def rss(processes: ProcessMap) -> dict[str, int]:
    """``{label: RSS bytes}``; processes that vanished are left out."""
    sizes = {}
    for label, pid in processes().items():
        try:
            sizes[label] = psutil.Process(pid).memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return sizes


def _status_bytes(processes: ProcessMap, field: str) -> dict[str, int]:
    """``{label: bytes}`` of one kB field of each process's ``/proc/PID/status``; processes that vanished are left
    out."""
    sizes = {}
    for label, pid in processes().items():
        try:
            with open(f"/proc/{pid}/status", encoding="ascii") as status:
                line = next(line for line in status if line.startswith(f"{field}:"))
        except (OSError, StopIteration):
            continue
        sizes[label] = int(line.split()[1]) * 1024
    return sizes


def private_memory(processes: ProcessMap) -> dict[str, int]:
    """``{label: bytes}`` of each process's private resident memory (Linux ``RssAnon``: its heap and buffers, where
    a leak grows; not its libraries nor shared-memory regions it maps); processes that vanished are left out."""
    return _status_bytes(processes, "RssAnon")


def peak_memory(processes: ProcessMap) -> dict[str, int]:
    """``{label: bytes}`` of each process's peak resident set size so far (Linux ``VmHWM``)."""
    return _status_bytes(processes, "VmHWM")


class PeakSampler:
    """Samples the summed RSS of ``processes`` every ``interval_s`` in a thread; :attr:`peak` is the largest sum."""

    def __init__(self, processes: ProcessMap, interval_s: float = 0.25) -> None:
        self.processes = processes
        self.interval_s = interval_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> int:
        total = sum(rss(self.processes).values())
        self.peak = max(self.peak, total)
        return total

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def __enter__(self) -> PeakSampler:
        self.sample()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()
