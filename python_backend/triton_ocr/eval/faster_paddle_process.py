"""faster-paddle 1.0.4 (a peer: Rust + ONNX Runtime 1.28, PP-OCRv6 small or tiny, MIT) as a long-lived worker
process (``faster_paddle_runner.py --serve`` in ``.venv-reference``), with its own defaults: an encoded file in, its
lines out, models loaded once. For the benchmark (which hands it the encoded files every row starts from) and the
evaluation (which hands it the decoded image, losslessly re-encoded)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from triton_ocr.errors import ConfigError
from triton_ocr.eval.faster_paddle_runner import MODEL_SIZES
from triton_ocr.eval.reference_process import ReferenceProcess, lines_of
from triton_ocr.stages import OCRLines

RUNNER = Path(__file__).with_name("faster_paddle_runner.py")


class FasterPaddleProcess(ReferenceProcess):
    """faster-paddle's ``OcrEngine(model_size, threads)`` in a child process. Its boxes are axis-aligned rectangles,
    reported as 4-point polygons; it reports no detection scores (ones) and has no recogniser-alone call."""

    def __init__(self, model_size: str = "small", threads: int = 2) -> None:
        if model_size not in MODEL_SIZES:
            raise ConfigError(f"faster-paddle model size {model_size!r}: one of {', '.join(MODEL_SIZES)}")
        super().__init__(f"faster-paddle {model_size}", "faster-paddle")
        self.start(RUNNER, ["--model-size", model_size, "--threads", str(threads)])

    def ocr_encoded(self, data: bytes) -> OCRLines:
        """An encoded image file's bytes (jpeg, png, webp, bmp, tiff, gif; it decodes them itself) → lines
        (polygons (N, 4, 2) in the file's pixels, in its reading order)."""
        path = self.scratch / "image"
        path.write_bytes(data)
        return lines_of(self.ask(path))

    def ocr(self, image: np.ndarray) -> OCRLines:
        """BGR uint8 (H, W, 3) → lines: the image goes over as an uncompressed BMP (the same pixels, cheap to write
        and to decode)."""
        ok, encoded = cv2.imencode(".bmp", np.ascontiguousarray(image))
        if not ok:
            raise RuntimeError(f"cannot encode a {image.shape} {image.dtype} image as BMP")
        return self.ocr_encoded(encoded.tobytes())
