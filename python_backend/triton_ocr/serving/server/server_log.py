"""The server's output on its way to its log file (or the console): every line as Triton wrote it, except, on the
CPU profile, the ensembles' CUDA-stream errors that the pip ``tritonserver`` (a GPU build) logs on a machine
without a CUDA driver. They are harmless there (the ensembles pass tensors in CPU memory and use no stream) and no
setting avoids them (docs/triton.md); one INFO line of ours says they were left out."""

from __future__ import annotations

import logging
import threading
from typing import IO

log = logging.getLogger(__name__)

CUDA_STREAM_ERROR = (b"unable to create stream for ", b"CUDA driver version is insufficient")
"""Both in one line: Triton's ensemble scheduler failing to create its stream without a CUDA driver."""


class ServerLog:
    """Copies ``pipe`` (the server's stdout and stderr) line by line into ``sink`` on a thread of its own, until the
    server closes it; with ``drop_cuda_stream_errors`` the lines of :data:`CUDA_STREAM_ERROR` are left out. The pipe
    is always drained, even if writing fails, so the server never blocks on a full pipe."""

    def __init__(self, pipe: IO[bytes], sink: IO[bytes], drop_cuda_stream_errors: bool, close_sink: bool) -> None:
        self.pipe, self.sink = pipe, sink
        self.drop = drop_cuda_stream_errors
        self.close_sink = close_sink
        self.dropped = 0
        self.thread = threading.Thread(target=self._copy, name="tritonserver-log", daemon=True)
        self.thread.start()

    def _copy(self) -> None:
        writing = True
        try:
            for line in iter(self.pipe.readline, b""):
                if self.drop and all(marker in line for marker in CUDA_STREAM_ERROR):
                    self.dropped += 1
                    if self.dropped == 1:
                        log.info("tritonserver: no CUDA driver here; its ensembles' 'unable to create stream' errors "
                                 "are harmless on the CPU profile and left out of its log")
                    continue
                if writing:
                    try:
                        self.sink.write(line)
                        self.sink.flush()
                    except (OSError, ValueError) as exc:  # a full disk, a closed console: keep draining the pipe
                        log.warning("tritonserver's log cannot be written any more: %s", exc)
                        writing = False
        finally:
            self.pipe.close()
            if self.close_sink:
                self.sink.close()
