"""Load test of the HTTP gateway: ``POST /ocr`` with base64 images (PaddleX's envelope).

    locust -f loadtest/locustfile_gateway.py --host http://127.0.0.1:8080 --headless -u 8 -r 8 -t 60s

``LOADTEST_VISUALIZE=1`` asks for the result picture too (PaddleX's default; the gateway then draws and encodes a
JPEG per request). Each user sends its next request as soon as the last one is answered (closed loop: users =
requests in flight). Images: see ``common.py``.
"""

from __future__ import annotations

import base64
import json
import os

from common import image_cycle, load_images
from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser

VISUALIZE = os.environ.get("LOADTEST_VISUALIZE", "0") == "1"
BODIES = [
    json.dumps({"image": base64.b64encode(data).decode("ascii"), "visualize": VISUALIZE}).encode()
    for data in load_images()
]


class GatewayUser(FastHttpUser):
    wait_time = constant(0)
    network_timeout = 600.0
    connection_timeout = 30.0

    def on_start(self) -> None:
        self.bodies = image_cycle(BODIES)

    @task
    def ocr(self) -> None:
        with self.client.post(
            "/ocr", data=next(self.bodies), headers={"Content-Type": "application/json"}, name="/ocr",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {(response.text or '')[:200]}")
            elif response.json().get("errorCode") != 0:
                response.failure(f"errorCode {response.json().get('errorCode')}")
