"""PDFs rendered in a separate, killable process, with limits; pages streamed back one at a time.

PDFium renders whatever a file asks — a 2 KB PDF of 10^7 nested form draws took 8 GB and 23 s before PDFium
aborted, a 5 KB compression bomb inflates to 2 GiB — and aborts its process when an allocation fails, so no PDF is
rendered in the process that reads it. :class:`PdfWorker` runs the functions of
:mod:`~triton_ocr.steps.pdf_pages` in a child (``python -c`` :data:`CHILD_CODE`) that:

- lowers its priority first (nice 19 and, on Linux, ``SCHED_IDLE``: it runs on CPU time no request wants), then
  imports numpy, pypdfium2 and these two modules only, not the ``triton_ocr`` package's ``__init__`` (the pipeline,
  cv2 and OpenVINO: 0.28 s, 76 MB), with one BLAS/OpenMP thread;
- limits itself before it reads the PDF: address space ``image.pdf_max_memory_mb`` (``RLIMIT_AS``), CPU time
  ``image.pdf_max_cpu_s`` (``RLIMIT_CPU``), no core files. The child sets its limits and priority itself: a
  ``preexec_fn`` may deadlock in a parent with threads (the gateway);
- reads the PDF from stdin and writes frames to stdout: the page count and sizes (every limit of
  :func:`~triton_ocr.steps.pdf_pages.pdf_info` checked before rendering), then one page at a time, or an error.
  A pipe holds 64 KiB: the child renders page k + 1 while the reader uses page k, then waits for the reader, so
  the reader holds one page at a time.

The reader waits for the child at most ``image.pdf_timeout_s`` for the whole document (its own time with each page
not counted), then kills it. However the child ends, the reader raises a typed error naming the limit and its field:
the child's own error (a damaged PDF, a page over ``image.max_pixels``...: :class:`InvalidImageError`,
:class:`ImageTooLargeError`), ``MemoryError`` or ``SIGABRT`` (PDFium aborts when an allocation fails: the memory
limit), ``SIGXCPU`` (the CPU limit), the time limit (all :class:`ImageTooLargeError`); another signal is an
:class:`InvalidImageError`.

Start-up: the child answers a one-page PDF's page sizes ~70 ms after it is started on an idle machine (median of
20 here; ~65 ms of it is Python, numpy and pypdfium2 starting; later when the CPU is busy, since it runs last), and
holds ~35 MB while it renders small pages.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn, TypeVar

import numpy as np

from triton_ocr.errors import ImageTooLargeError, InvalidImageError
from triton_ocr.steps.pdf_pages import PdfInfo, PdfLimits, open_pdf, pdf_info, render_page

if TYPE_CHECKING:
    from triton_ocr.config import ImageConfig

log = logging.getLogger(__name__)
T = TypeVar("T")

FRAME = struct.Struct("<cQ")
"""A frame's header: its kind and the length of its payload."""
INFO, PAGE, ERROR = b"i", b"p", b"e"
"""Frame kinds: the page count and sizes (JSON), a page (:data:`PAGE_SHAPE`, then H × W × 3 BGR bytes), an error
(JSON: the exception's class name and message)."""
PAGE_SHAPE = struct.Struct("<II")
"""A page frame's height and width."""

NICE = 19
CHILD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
PACKAGE_DIR = str(Path(__file__).resolve().parents[1])
CHILD_CODE = f"""
import os, sys, types
os.nice({NICE})
if hasattr(os, "SCHED_IDLE"):
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
package = types.ModuleType("triton_ocr")
package.__path__ = [{PACKAGE_DIR!r}]
sys.modules["triton_ocr"] = package
from triton_ocr.steps.pdf_worker import child_main
child_main()
"""
"""The child's program: the lowest priority first, so that its imports (~60 ms of CPU) already yield to requests;
then the package without its ``__init__``, and :func:`child_main`."""


class PdfWorker:
    """One PDF rendered by its own child process; pages are BGR uint8 (H, W, 3).

    ``with PdfWorker(data, limits) as pdf:`` reads :attr:`info`, then ``for page in pdf:``; in an event loop
    ``async with`` / ``async for`` run each wait in a thread. Leaving the block kills the child if it still runs.
    """

    def __init__(self, data: bytes, limits: ImageConfig, name: str = "the PDF") -> None:
        self.data = data
        self.limits = limits
        self.name = name
        self.info: PdfInfo | None = None
        self.pages_read = 0
        self.waited_s = 0.0
        self.busy = threading.Lock()  # held while a thread reads the pipe: close() waits for it
        spec = {"limits": asdict(PdfLimits.of(limits)), "name": name,
                "memory_mb": limits.pdf_max_memory_mb, "cpu_s": limits.pdf_max_cpu_s}
        self.process = subprocess.Popen(
            [sys.executable, "-c", CHILD_CODE, json.dumps(spec)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, **CHILD_ENV}, bufsize=0,
        )
        self.poller = select.poll()
        self.poller.register(self.process.stdout, select.POLLIN)

    def start(self) -> PdfInfo:
        """Send the PDF; the page count and the sizes of the pages to be read, or the renderer's error."""
        with self.busy:
            try:
                self.process.stdin.write(self.data)
                self.process.stdin.close()
            except BrokenPipeError:
                pass  # the child has ended: its frames or its exit status say why
            kind, payload = self.frame()
            if kind != INFO:
                self.unexpected(kind)
            info = json.loads(payload)
            self.info = PdfInfo(info["num_pages"], [tuple(size) for size in info["page_sizes"]])
        if self.info.unread:
            log.warning("%s: %s", self.name, self.info.unread)
        return self.info

    def next_page(self) -> np.ndarray | None:
        """The next page, or ``None`` after the last one."""
        assert self.info is not None, "start() first"
        if self.pages_read == len(self.info.page_sizes):
            return None
        with self.busy:
            kind, page = self.frame()
        if kind != PAGE:
            self.unexpected(kind)
        self.pages_read += 1
        return page

    def close(self) -> None:
        """Kill the child if it still runs (a read in another thread then ends) and reap it."""
        if self.process.poll() is None:
            self.process.kill()
        with self.busy:
            self.process.wait()
            self.process.stdin.close()
            self.process.stdout.close()

    def frame(self) -> tuple[bytes, Any]:
        """The next frame: (kind, payload); a page's payload is its array, an error frame is raised."""
        header = bytearray(FRAME.size)
        self.read_into(header)
        kind, length = FRAME.unpack(header)
        if kind == PAGE:
            shape = bytearray(PAGE_SHAPE.size)
            self.read_into(shape)
            page = np.empty((*PAGE_SHAPE.unpack(shape), 3), np.uint8)
            self.read_into(page)
            return kind, page
        payload = bytearray(length)
        self.read_into(payload)
        if kind == ERROR:
            error = json.loads(payload)
            if error["error"] == "MemoryError":
                raise self.memory_error()
            raise (ImageTooLargeError if error["error"] == "ImageTooLargeError" else InvalidImageError)(
                error["message"]
            )
        return kind, payload

    def read_into(self, buffer: bytearray | np.ndarray) -> None:
        """Fill ``buffer`` from the child's stdout, within what is left of ``image.pdf_timeout_s``."""
        view = memoryview(buffer).cast("B")
        while view:
            started = time.monotonic()
            left_s = self.limits.pdf_timeout_s - self.waited_s
            ready = left_s > 0 and self.poller.poll(left_s * 1000)
            count = self.process.stdout.readinto(view) if ready else 0
            self.waited_s += time.monotonic() - started
            if not ready:
                self.process.kill()
                self.process.wait()
                raise ImageTooLargeError(
                    f"{self.name} took longer than {self.limits.pdf_timeout_s:g} s to render; the limit is "
                    "image.pdf_timeout_s"
                )
            if not count:
                self.ended()
            view = view[count:]

    def ended(self) -> NoReturn:
        """The child's stdout ended before the document did: raise why, from its exit status."""
        status = self.process.wait()
        if status == -signal.SIGABRT:
            raise self.memory_error()
        if status == -signal.SIGXCPU:
            raise ImageTooLargeError(
                f"{self.name} needs more than {self.limits.pdf_max_cpu_s} s of CPU to render; the limit is "
                "image.pdf_max_cpu_s"
            )
        if status < 0:
            raise InvalidImageError(f"{self.name} crashed the PDF renderer ({signal.Signals(-status).name})")
        raise RuntimeError(f"the PDF renderer ended with status {status} without an answer (see its stderr)")

    def memory_error(self) -> ImageTooLargeError:
        return ImageTooLargeError(
            f"{self.name} needs more than {self.limits.pdf_max_memory_mb} MB to render; the limit is "
            "image.pdf_max_memory_mb"
        )

    def unexpected(self, kind: bytes) -> NoReturn:
        raise RuntimeError(f"the PDF renderer sent a frame of kind {kind!r} out of turn")

    def __enter__(self) -> PdfWorker:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[np.ndarray]:
        while (page := self.next_page()) is not None:
            yield page

    async def __aenter__(self) -> PdfWorker:
        try:
            await in_thread(self.start)
        except BaseException:
            await in_thread(self.close)
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await in_thread(self.close)

    def __aiter__(self) -> PdfWorker:
        return self

    async def __anext__(self) -> np.ndarray:
        page = await in_thread(self.next_page)
        if page is None:
            raise StopAsyncIteration
        return page


async def in_thread(function: Callable[[], T]) -> T:
    import asyncio  # here, not at the top: the child imports this module and would spend 25 ms on asyncio

    return await asyncio.to_thread(function)


def pdf_pages(data: bytes, limits: ImageConfig, name: str = "the PDF") -> Iterator[np.ndarray]:
    """Each page read of a PDF, BGR uint8 (H, W, 3), rendered by a :class:`PdfWorker`."""
    with PdfWorker(data, limits, name) as pdf:
        yield from pdf


# --- the child ---


def child_main() -> None:
    """The child process: limits from ``argv[1]`` (JSON), the PDF on stdin, frames on stdout."""
    spec = json.loads(sys.argv[1])
    lower_limit(resource.RLIMIT_AS, spec["memory_mb"] << 20, spec["memory_mb"] << 20)
    lower_limit(resource.RLIMIT_CPU, spec["cpu_s"], spec["cpu_s"] + 1)  # SIGXCPU at the soft limit, SIGKILL after
    lower_limit(resource.RLIMIT_CORE, 0, 0)
    data = sys.stdin.buffer.read()
    out = sys.stdout.buffer
    try:
        try:
            render(data, PdfLimits(**spec["limits"]), spec["name"], out)
        except (InvalidImageError, MemoryError) as exc:
            message = json.dumps({"error": type(exc).__name__, "message": str(exc)}).encode()
            out.write(FRAME.pack(ERROR, len(message)) + message)
        out.flush()
    except BrokenPipeError:  # the reader has gone
        os._exit(1)


def lower_limit(kind: int, soft: int, hard: int) -> None:
    """Set a resource limit, never above the one this process already has."""
    _, current = resource.getrlimit(kind)
    hard = hard if current == resource.RLIM_INFINITY else min(hard, current)
    resource.setrlimit(kind, (min(soft, hard), hard))


def render(data: bytes, limits: PdfLimits, name: str, out: IO[bytes]) -> None:
    """Write the PDF's info frame, then one frame per page read."""
    document = open_pdf(data, name)
    info = pdf_info(document, limits, name)
    payload = json.dumps(asdict(info)).encode()
    out.write(FRAME.pack(INFO, len(payload)) + payload)
    out.flush()
    for index in range(len(info.page_sizes)):
        page = render_page(document, index, limits.dpi, name)
        out.write(FRAME.pack(PAGE, PAGE_SHAPE.size + page.nbytes) + PAGE_SHAPE.pack(*page.shape[:2]))
        out.write(page.data)
        out.flush()
        del page
