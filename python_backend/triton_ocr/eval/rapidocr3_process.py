"""RapidOCR 3.10.0 as a long-lived worker process (``rapidocr3_runner.py --serve`` in ``.venv-reference``): one
decoded image in, its lines out, models loaded once. For the evaluation and the benchmark, which drive engines image
by image; :func:`~triton_ocr.eval.rapidocr3_reference.run_reference` is the batch form."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from triton_ocr.eval.rapidocr3_reference import RUNNER
from triton_ocr.eval.reference_process import ReferenceProcess, lines_of
from triton_ocr.stages import OCRLines


class RapidOCR3Process(ReferenceProcess):
    """RapidOCR 3.10 with ``params`` (its dotted config names; ``None``: its own defaults, PP-OCRv6 small and its
    angle classifier on) in a child process. Images go over as ``.npy`` files in a private temporary folder."""

    def __init__(self, params: dict[str, Any] | None = None, threads: int = 2) -> None:
        super().__init__("RapidOCR 3.10", "rapidocr3")
        params_file = self.scratch / "params.json"
        params_file.write_text(json.dumps(params or {}), encoding="utf-8")
        arguments = ["--params", str(params_file), "--threads", str(threads)]
        self.start(RUNNER, arguments + (["--force-rec-keys"] if params is not None else []))

    def _ask(self, image: np.ndarray, rec_only: bool) -> dict[str, Any]:
        """``image``: BGR uint8 (H, W, 3) → the runner's answer (``polys``, ``texts``, ``scores``, ``seconds``)."""
        path = self.scratch / "image.npy"
        np.save(path, np.ascontiguousarray(image))
        return self.ask(path, rec_only)

    def ocr(self, image: np.ndarray) -> OCRLines:
        """BGR uint8 (H, W, 3) → lines (polygons (N, 4, 2) in the image's pixels; detection scores are not
        reported: ones)."""
        return lines_of(self._ask(image, rec_only=False))

    def recognize(self, crop: np.ndarray) -> str:
        """BGR uint8 (h, w, 3) line crop → its text (the recogniser alone, whatever the score)."""
        texts = self._ask(crop, rec_only=True)["texts"]
        return texts[0] if texts else ""
