"""Load test of the Triton ensemble ``ocr`` over gRPC (tritonclient), encoded images.

    locust -f loadtest/locustfile_triton.py --host grpc://127.0.0.1:8001 --headless -u 8 -r 8 -t 60s

gRPC is made cooperative with gevent before anything else imports it (``init_gevent``), every user keeps one
client and closes it when it stops (otherwise the process hangs at exit). Users still waiting for an answer when
the run ends are stopped without ``on_stop``, and gRPC's gevent shutdown can then hang the process after locust has
written its statistics: once locust has quit, the process exits at once. Requests are reported to locust as type
``grpc``, name ``ocr``; the response length is the number of recognised lines. Images: see ``common.py``.
"""

from __future__ import annotations

import grpc.experimental.gevent as grpc_gevent

grpc_gevent.init_gevent()

import os  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import tritonclient.grpc as grpcclient  # noqa: E402
from common import image_cycle, load_images  # noqa: E402
from locust import User, constant, events, task  # noqa: E402

MODEL = "ocr"  # triton_ocr.contract.OCR: encoded image bytes in, lines out
IMAGE_INPUT = "image"
OUTPUTS = ("polys", "texts", "rec_scores")
TIMEOUT_S = 600.0
IMAGES = [np.array([data], dtype=np.object_) for data in load_images()]


class TritonUser(User):
    wait_time = constant(0)

    def on_start(self) -> None:
        self.client = grpcclient.InferenceServerClient(self.host.split("://", 1)[-1])
        self.images = image_cycle(IMAGES)
        self.outputs = [grpcclient.InferRequestedOutput(name) for name in OUTPUTS]

    def on_stop(self) -> None:
        self.client.close()

    @task
    def ocr(self) -> None:
        image = grpcclient.InferInput(IMAGE_INPUT, [1], "BYTES")
        image.set_data_from_numpy(next(self.images))
        started = time.perf_counter()
        lines, error = 0, None
        try:
            result = self.client.infer(MODEL, [image], outputs=self.outputs, client_timeout=TIMEOUT_S)
            lines = len(result.as_numpy("texts"))
        except Exception as exc:  # noqa: BLE001 - reported to locust as a failure
            error = exc
        self.environment.events.request.fire(
            request_type="grpc", name=MODEL, response_time=(time.perf_counter() - started) * 1000,
            response_length=lines, exception=error, context={},
        )


@events.quit.add_listener
def exit_now(exit_code: int, **_: object) -> None:
    """Statistics are written by now; leave before gRPC's gevent shutdown can hang the process."""
    os._exit(exit_code)
