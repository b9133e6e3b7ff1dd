"""glibc heap settings for the serving processes, and giving freed heap memory back to the system.

glibc keeps freed memory for reuse: with its defaults a process serving large images stays at its largest
request's high-water mark. :data:`MALLOC_SETTINGS` go into the environment of Triton and its stubs (and the chart's
pods); a process that is already running gets them with :func:`apply_malloc_settings`. Even so, many small blocks
freed by several threads leave pages the heap keeps: the gateway calls :func:`trim_heap` after large images.
"""

from __future__ import annotations

import ctypes
import os
from functools import cache

MALLOC_SETTINGS = {
    "MALLOC_ARENA_MAX": "2",
    "MALLOC_MMAP_THRESHOLD_": str(32 << 20),
    "MALLOC_TRIM_THRESHOLD_": str(64 << 20),
}
"""Two heaps per process instead of up to eight per core; every block of 32 MiB or more (large pages, their
detector inputs and probability maps) mapped on its own, so that freeing it returns it to the system; and up to
64 MiB of free memory kept at the top of a heap for the next request. Not lower: at a 1 MiB mmap threshold every
detector input, probability map and recognition chunk was a fresh mapping, its pages faulted in and zeroed on
every request — the same OpenVINO detector cost 205 instead of 152 CPU ms per image (8 MiB: 198). A threshold set
explicitly stops glibc adapting both, and its trim threshold stays at 128 KiB: the blocks below 32 MiB went back
to the system whenever they were the heap's top and were faulted in again on the next request (the served
processes' CPU per image ~2.5 % higher, docs/performance.md, ninth pass). 64 MiB is what glibc's own rule sets
for a 32 MiB threshold; 32 MiB is glibc's largest mmap threshold."""

GATEWAY_MALLOC_SETTINGS = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": str(1 << 20)}
"""The gateway's: blocks of 1 MiB or more (request bodies, decoded images, result pictures) mapped on their own,
and glibc's trim threshold. Its CPU per image is small (~20 ms) and its memory is what a burst of large uploads
would keep."""

MALLOPT_PARAMETERS = {"MALLOC_ARENA_MAX": -8, "MALLOC_MMAP_THRESHOLD_": -3}
"""glibc's ``mallopt`` numbers (``M_ARENA_MAX``, ``M_MMAP_THRESHOLD``) for :data:`GATEWAY_MALLOC_SETTINGS`, the
settings :func:`apply_malloc_settings` gives a running process."""


@cache
def libc() -> ctypes.CDLL:
    return ctypes.CDLL(None)


def apply_malloc_settings() -> dict[str, int]:
    """Give this running process :data:`GATEWAY_MALLOC_SETTINGS` (through ``mallopt``: glibc reads the environment
    only at start), each unless its variable is set: ``triton-ocr gateway`` started without them. Returns what was
    applied."""
    applied = {}
    for name, value in GATEWAY_MALLOC_SETTINGS.items():
        if name not in os.environ and libc().mallopt(MALLOPT_PARAMETERS[name], int(value)) == 1:
            applied[name] = int(value)
    return applied


def trim_heap() -> None:
    """Return the heap's free pages to the system (``malloc_trim``: every arena, also pages between blocks in use;
    ~0.5 ms). Measured: the gateway's decoding and drawing of 6000 × 6000 pages in three threads left 113 MiB in
    its heaps with :data:`MALLOC_SETTINGS` applied; one call gave them back."""
    libc().malloc_trim(0)
