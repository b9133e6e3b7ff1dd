"""The server's log relay: Triton's lines reach the log as written, except the CPU profile's harmless CUDA-stream
errors (a GPU build without a CUDA driver), and the pipe is drained even when the log cannot be written."""

from __future__ import annotations

import io
import logging
import os

from triton_ocr.serving.server.server_log import ServerLog

LINES = [
    b'I1206 21:02:02.467871 13493 cuda_memory_manager.cc:117] "CUDA memory pool disabled"\n',
    b'E1206 21:30:38.557061 13493 ensemble_scheduler.cc:1468] "unable to create stream for ocr: CUDA driver version '
    b'is insufficient for CUDA runtime version"\n',
    b'E1206 21:30:40.000000 13493 model_lifecycle.cc:654] "failed to load \'text_det\'"\n',
    b'E1206 21:30:38.557598 13493 ensemble_scheduler.cc:1468] "unable to create stream for ocr.PP-OCRv6_small: CUDA '
    b'driver version is insufficient for CUDA runtime version"\n',
]


def relay(drop: bool, sink: io.BytesIO) -> ServerLog:
    read, write = os.pipe()
    with os.fdopen(write, "wb") as server:
        server.writelines(LINES)
    copied = ServerLog(os.fdopen(read, "rb"), sink, drop_cuda_stream_errors=drop, close_sink=False)
    copied.thread.join(10)
    return copied


def test_the_cpu_profile_leaves_out_the_cuda_stream_errors_and_keeps_every_other_line(caplog):
    caplog.set_level(logging.INFO)
    sink = io.BytesIO()
    copied = relay(True, sink)
    assert sink.getvalue() == LINES[0] + LINES[2]  # another error stays
    assert copied.dropped == 2 and "'unable to create stream' errors are harmless" in caplog.text
    assert relay(False, io.BytesIO()).dropped == 0  # the gpu profile: every line, the driver's errors matter there


def test_a_log_that_cannot_be_written_still_drains_the_server(caplog):
    class Full(io.BytesIO):
        def write(self, data: bytes) -> int:
            raise OSError(28, "No space left on device")

    copied = relay(True, Full())
    assert not copied.thread.is_alive() and "cannot be written any more" in caplog.text
