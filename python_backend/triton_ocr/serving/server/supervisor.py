"""Keep a started :class:`~triton_ocr.serving.server.launcher.TritonServer` serving.

Every interval: restart a server process that died; find models whose python stub died (a killed stub is invisible
to Triton's readiness: the model stays "ready" while every call fails) and reload them (unload + load: a plain load
of an unchanged model is skipped by Triton), restarting the server when a reload brings no live stub back;
otherwise probe with a real inference through every entry, and reload what a failed probe names — or, after three
failures in a row naming nothing, every model of the plan that has instances of its own.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Collection, Iterable
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
        """Every :data:`STUB_CHECK_S`: restart a dead server, heal models whose stubs died; every ``interval_s``
        also a probe inference."""
        failures = 0
        next_probe = time.monotonic() + self.interval_s
        while not self.stopping.wait(min(STUB_CHECK_S, self.interval_s)):
            process = self.server.process
            assert process is not None
            if process.poll() is not None:
                self.server.restart()
                continue
            dead = self.dead_models(None)
            probed = not dead and time.monotonic() >= next_probe
            error = self.server.probe() if probed else None
            if probed:
                next_probe = time.monotonic() + self.interval_s
            if error is not None:
                failures += 1
                log.warning("health probe failed (%d): %s", failures, error)
                dead = self.dead_models(error) or (
                    set(self.reloadable) if failures >= FAILURES_BEFORE_FULL_RELOAD else set()
                )
            if dead:
                self.heal(dead)
                failures = 0
            elif probed and error is None:
                failures = 0
