"""The python backend's stub processes of one server and their shared-memory regions in ``/dev/shm``.

Each python-model instance runs in a stub process that shares one region (``<prefix><n>``) with the server. Triton
24.10 unlinks a region when its instance is unloaded — except when the stub was killed: the server then keeps that
instance, and the region mapped, for ever (measured: six kill-and-heal cycles of ``det_preprocess`` after large
pages left 900 MiB in ``tritonserver``'s RSS). :func:`reclaim_regions` gives such a region's memory back.
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

SHM_ROOT = Path("/dev/shm")
SHM_PREFIX = "triton_ocr_"
STUB = "triton_python_backend_stub"
INSTANCE_NAME = re.compile(r"[A-Za-z][\w.-]*_\d+_\d+")
FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE = 0x01, 0x02
PUNCH_HOLE = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
"""``fallocate`` mode: free the pages of a range, keep the file's size."""


def stub_processes(shm_prefix: str) -> dict[str, int]:
    """Live python backend stubs whose shared-memory region starts with ``shm_prefix``: ``{instance name: pid}``;
    where an instance has more than one (the stub of an unloaded instance that has not exited), the newest."""
    return {name: stubs[-1][0] for name, stubs in stub_instances(shm_prefix).items()}


def stub_instances(shm_prefix: str) -> dict[str, list[tuple[int, str]]]:
    """Every stub of each instance, oldest first: ``{instance name: [(pid, shm region name), ...]}``.

    A stub's command line is ``stub MODEL_PATH SHM_REGION ... INSTANCE_NAME ...``; the instance name is the argument
    shaped ``<model>_<group>_<index>``.
    """
    found: dict[str, list[tuple[int, int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            started = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[19])
        except (OSError, IndexError, ValueError):
            continue
        if len(argv) > 3 and argv[0].endswith(STUB) and argv[2].startswith(shm_prefix):
            names = [arg for arg in argv[3:] if INSTANCE_NAME.fullmatch(arg)]
            if names:
                found.setdefault(names[0], []).append((started, int(entry.name), argv[2]))
    return {name: [(pid, region) for _, pid, region in sorted(stubs)] for name, stubs in found.items()}


def regions(shm_prefix: str, root: Path = SHM_ROOT) -> set[str]:
    """The names of the regions in ``root`` that start with ``shm_prefix``."""
    return {path.name for path in root.glob(f"{shm_prefix}*")}


def live_regions(shm_prefix: str) -> set[str]:
    """The regions a running stub uses."""
    return {region for stubs in stub_instances(shm_prefix).values() for _, region in stubs}


def orphaned_regions(shm_prefix: str) -> set[str]:
    """The regions no running stub uses: a killed stub's, which the server keeps (or one just being unlinked)."""
    return regions(shm_prefix) - live_regions(shm_prefix)


def used_bytes(path: Path) -> int:
    """The memory a region holds (its allocated blocks: a reclaimed region keeps its size but holds none); 0 once
    it is gone (regions are listed, then read: the server can unlink one in between, as it does a retired stub's)."""
    try:
        return path.stat().st_blocks * 512
    except FileNotFoundError:
        return 0


def exposed_regions(shm_prefix: str, root: Path = SHM_ROOT) -> set[str]:
    """The regions starting with ``shm_prefix`` that users other than their owner may read or write."""
    exposed = set()
    for name in regions(shm_prefix, root):
        try:
            if (root / name).stat().st_mode & 0o077:
                exposed.add(name)
        except FileNotFoundError:
            continue
    return exposed


def reclaim_regions(names: Iterable[str], root: Path = SHM_ROOT) -> dict[str, int]:
    """Give back the memory of the regions ``names`` (whose stubs are gone, but which the server keeps mapped):
    ``{name: bytes freed}`` for those that held any (a region the server has unlinked meanwhile is skipped).

    The pages are punched out, not the file cut short: should the server ever read the region again it reads
    zeros instead of faulting (SIGBUS), and its mapping, the file's name and size stay as they were.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    freed = {}
    for name in names:
        path = root / name
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            continue
        try:
            stat = os.fstat(fd)
            held = stat.st_blocks * 512
            if not held:
                continue
            if libc.fallocate(fd, PUNCH_HOLE, ctypes.c_long(0), ctypes.c_long(stat.st_size)) == 0:
                freed[name] = held
            else:
                log.warning("could not free region %s: %s", name, os.strerror(ctypes.get_errno()))
        finally:
            os.close(fd)
    return freed


def remove_stale_shm_regions(root: Path = SHM_ROOT) -> list[Path]:
    """Delete ``triton_ocr_<pid>_*`` regions whose launcher process is gone (leaked by crashes or kills)."""
    removed = []
    for region in root.glob(f"{SHM_PREFIX}*"):
        pid = region.name[len(SHM_PREFIX) :].split("_", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            region.unlink(missing_ok=True)
            removed.append(region)
    return removed
