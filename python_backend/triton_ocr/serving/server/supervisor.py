"""Keep a started :class:`~triton_ocr.serving.server.launcher.TritonServer` serving.

Every quarter second: restart a server process that died; find models whose python stub died (a killed stub is
invisible to Triton's readiness: the model stays "ready" while every call fails) and reload them (unload + load: a
plain load of an unchanged model is skipped by Triton), restarting the server when a reload brings no live stub back;
give back the memory of dead stubs' regions that the server keeps.
Every interval, in a thread of its own (under load a probe waits in the models' queues for seconds, and a dead stub
must not wait for it): a real inference through every entry; a failure reloads what it names — or, after three
failures in a row naming nothing, every model of the plan that has instances of its own.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Collection, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from triton_ocr.serving.server.launcher import TritonServer

log = logging.getLogger(__name__)

UNHEALTHY_STUB = re.compile(r"Stub process '(?P<instance>[^']+)_\d+_\d+' is not healthy")
FAILURES_BEFORE_FULL_RELOAD = 3
STUB_CHECK_S = 0.25
"""How often the process table is read for dead stubs (cheap: no inference); probes run every ``interval_s``."""


def model_of(instance: str) -> str:
    """``text_rec_0_1`` → ``text_rec`` (an instance is ``<model>_<group>_<index>``)."""
    return instance.rsplit("_", 2)[0]


def unhealthy_models(
    expected: Iterable[str], live: Iterable[str], probe_error: str | None, reloadable: Collection[str]
) -> set[str]:
    """Models among ``reloadable`` with an instance in ``expected`` that is not ``live`` (its stub died), or named
    by ``probe_error`` as having an unhealthy stub."""
    missing = set(expected) - set(live)
    named = {match.group("instance") for match in UNHEALTHY_STUB.finditer(probe_error or "")}
    return ({model_of(instance) for instance in missing} | named) & set(reloadable)


class Supervisor:
    """The supervision loop of one server; :meth:`run` returns when ``stopping`` is set."""

    def __init__(self, server: TritonServer, interval_s: float, stopping: threading.Event) -> None:
        self.server = server
        self.interval_s = interval_s
        self.stopping = stopping
        self.reloadable = server.plan.reloadable

    def dead_models(self, probe_error: str | None) -> set[str]:
        return unhealthy_models(
            self.server.instances, self.server.stub_processes(), probe_error, self.reloadable
        )

    def heal(self, models: Iterable[str]) -> None:
        """Reload ``models`` (unload, load, live stubs again); if that fails, restart the whole server."""
        try:
            self.server.reload(sorted(models))
        except Exception as exc:  # noqa: BLE001 - a failed reload escalates to a restart
            log.error("reload of %s failed (%s): restarting the server", ", ".join(sorted(models)), exc)
            self.server.restart()
        self.server.instances |= set(self.server.stub_processes())

    def run(self) -> None:
        """Every :data:`STUB_CHECK_S`: restart a dead server, heal models whose stubs died, act on a finished probe
        and start the next one when due."""
        failures = 0
        next_probe = time.monotonic() + self.interval_s
        healed_at = time.monotonic()
        probe: Future[str | None] | None = None
        probe_started = 0.0
        prober = ThreadPoolExecutor(max_workers=1, thread_name_prefix="triton-probe")
        try:
            while not self.stopping.wait(min(STUB_CHECK_S, self.interval_s)):
                process = self.server.process
                assert process is not None
                if process.poll() is not None:
                    self.server.restart()
                    healed_at = time.monotonic()
                    continue
                dead = self.dead_models(None)
                self.server.reclaim_orphans()
                if probe is not None and probe.done():
                    error = probe.result() if probe_started > healed_at else None  # older: about what was healed
                    probe, next_probe = None, time.monotonic() + self.interval_s
                    if error is None:
                        failures = 0
                    else:
                        failures += 1
                        log.warning("health probe failed (%d): %s", failures, error)
                        dead |= self.dead_models(error) or (
                            set(self.reloadable) if failures >= FAILURES_BEFORE_FULL_RELOAD else set()
                        )
                if dead:
                    self.heal(dead)
                    healed_at, failures = time.monotonic(), 0
                elif probe is None and time.monotonic() >= next_probe:
                    probe, probe_started = prober.submit(self.server.probe), time.monotonic()
        finally:
            prober.shutdown(wait=False, cancel_futures=True)  # a probe in flight ends on its own time-out
