"""Ending child processes: SIGTERM, then SIGKILL after a grace period."""

from __future__ import annotations

import subprocess


def end_process(process: subprocess.Popen, grace_s: float = 20.0) -> None:
    """Stop ``process`` if it still runs: SIGTERM, then SIGKILL when it has not exited after ``grace_s``."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
