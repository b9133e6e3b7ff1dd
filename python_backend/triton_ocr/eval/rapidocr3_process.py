"""RapidOCR 3.10.0 as a long-lived worker process (``rapidocr3_runner.py --serve`` in ``.venv-reference``): one
decoded image in, its lines out, models loaded once. For the evaluation and the benchmark, which drive engines image
by image; :func:`~triton_ocr.eval.rapidocr3_reference.run_reference` is the batch form."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from triton_ocr.errors import ConfigError
from triton_ocr.eval.rapidocr3_reference import PYTHON, RUNNER
from triton_ocr.stages import OCRLines


class RapidOCR3Process:
    """RapidOCR 3.10 with ``params`` (its dotted config names; ``None``: its own defaults, PP-OCRv6 small and its
    angle classifier on) in a child process. Images go over as ``.npy`` files in a private temporary folder."""

    def __init__(self, params: dict[str, Any] | None = None, threads: int = 2) -> None:
        if not PYTHON.is_file():
            raise ConfigError(f"no reference environment at {PYTHON.parent.parent}: run scripts/reference_env.sh")
        shm = Path("/dev/shm")
        self.folder = tempfile.TemporaryDirectory(prefix="rapidocr3-", dir=shm if shm.is_dir() else None)
        params_file = Path(self.folder.name) / "params.json"
        params_file.write_text(json.dumps(params or {}), encoding="utf-8")
        command = [str(PYTHON), str(RUNNER), "--serve", "--params", str(params_file), "--threads", str(threads)]
        if params is not None:
            command.append("--force-rec-keys")
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1
        )
        self.cpu_seconds = 0.0  # the child's CPU time after its latest answer

    def _ask(self, image: np.ndarray, rec_only: bool) -> dict[str, Any]:
        """``image``: BGR uint8 (H, W, 3) → the runner's answer (``polys``, ``texts``, ``scores``, ``seconds``)."""
        path = Path(self.folder.name) / "image.npy"
        np.save(path, np.ascontiguousarray(image))
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"path": str(path), "rec_only": rec_only}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the RapidOCR 3.10 runner ended (status {self.process.poll()})")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"RapidOCR 3.10: {answer['error']}")
        self.cpu_seconds = float(answer["cpu_seconds"])
        return answer

    def ocr(self, image: np.ndarray) -> OCRLines:
        """BGR uint8 (H, W, 3) → lines (polygons (N, 4, 2) in the image's pixels; detection scores are not
        reported: ones)."""
        answer = self._ask(image, rec_only=False)
        polys = np.array(answer["polys"], np.float32).reshape(-1, 4, 2)
        scores = np.array(answer["scores"], np.float32)
        return OCRLines(polys, np.ones(len(polys), np.float32), list(answer["texts"]), scores)

    def recognize(self, crop: np.ndarray) -> str:
        """BGR uint8 (h, w, 3) line crop → its text (the recogniser alone, whatever the score)."""
        texts = self._ask(crop, rec_only=True)["texts"]
        return texts[0] if texts else ""

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.folder.cleanup()
