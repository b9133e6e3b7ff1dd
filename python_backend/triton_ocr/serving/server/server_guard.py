"""The server guard: ``native/server_guard.c``, preloaded into ``tritonserver`` by the launcher, keeps the admin key
out of ``/proc/PID/cmdline`` and the python backend's ``/dev/shm`` regions private to their owner (the C file says
how). Built once per source version with the system's C compiler (``cc``, ~0.1 s) next to the installed server.

    guard = build_server_guard(install.root)             # Path of the .so; raises TritonUnavailableError without cc
    env |= guard_environment(guard, admin_key)           # LD_PRELOAD and the key, for the server's process only
    argument = f"...={ADMIN_KEY_PLACEHOLDER}"            # what /proc shows in place of the key
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from triton_ocr.serving.server.install import TritonUnavailableError

SOURCE = Path(__file__).parent / "native" / "server_guard.c"
ADMIN_KEY_PLACEHOLDER = "@TRITON_OCR_ADMIN_KEY@"
ADMIN_KEY_VARIABLE = "TRITON_OCR_ADMIN_KEY"


class GuardUnavailableError(TritonUnavailableError):
    """The server guard cannot be built here (no C compiler)."""


def build_server_guard(root: Path) -> Path:
    """``root/guard/server_guard-<source digest>.so``, compiled from :data:`SOURCE` unless already there."""
    source = SOURCE.read_bytes()
    target = root / "guard" / f"server_guard-{hashlib.sha256(source).hexdigest()[:12]}.so"
    if target.is_file():
        return target
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise GuardUnavailableError(
            "no C compiler (cc) to build the server guard, which keeps Triton's admin key and its shared memory "
            "from other local users: install one (Debian: apt-get install gcc) and run `triton-ocr serve --install`"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        partial = Path(tmp) / target.name
        done = subprocess.run(
            [compiler, "-shared", "-fPIC", "-O2", "-Wall", "-o", str(partial), str(SOURCE), "-ldl"],
            capture_output=True, text=True,
        )
        if done.returncode != 0:
            raise GuardUnavailableError(f"building the server guard failed:\n{done.stderr.strip()}")
        partial.replace(target)
    return target


def guard_environment(guard: Path, admin_key: str) -> dict[str, str]:
    """The variables that load ``guard`` into the server and hand it ``admin_key`` (wiped by the guard at start)."""
    return {"LD_PRELOAD": str(guard), ADMIN_KEY_VARIABLE: admin_key}
