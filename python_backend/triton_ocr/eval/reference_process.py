"""The engines of the reference environment (``.venv-reference``, made by ``scripts/reference_env.sh``) as
long-lived child processes: a runner script (:mod:`rapidocr3_runner`, :mod:`faster_paddle_runner`) started with
``--serve`` answers one image file per request (the loop of :mod:`reference_serve`), models loaded once. Images go
over as files in a private temporary folder (in ``/dev/shm`` where there is one). Nothing of those engines is ever
imported by ``triton_ocr``."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from triton_ocr.errors import ConfigError
from triton_ocr.stages import OCRLines

ROOT = Path(__file__).resolve().parents[3]
PYTHON = ROOT / ".venv-reference" / "bin" / "python"


def require_reference_env() -> None:
    """Raise :class:`ConfigError` where ``.venv-reference`` has not been built."""
    if not PYTHON.is_file():
        raise ConfigError(f"no reference environment at {PYTHON.parent.parent}: run scripts/reference_env.sh")


def lines_of(answer: dict[str, Any]) -> OCRLines:
    """A runner's answer → lines (polygons float32 (N, 4, 2) in the image's pixels; the runners report no detection
    scores: ones)."""
    polys = np.array(answer["polys"], np.float32).reshape(-1, 4, 2)
    scores = np.array(answer["scores"], np.float32)
    return OCRLines(polys, np.ones(len(polys), np.float32), list(answer["texts"]), scores)


class ReferenceProcess:
    """A runner in ``.venv-reference`` as a child process. ``label`` names the engine in errors. Subclasses write
    what the runner needs into :attr:`scratch`, then :meth:`start` it."""

    def __init__(self, label: str, prefix: str) -> None:
        require_reference_env()
        self.label = label
        shm = Path("/dev/shm")
        self.folder = tempfile.TemporaryDirectory(prefix=f"{prefix}-", dir=shm if shm.is_dir() else None)
        self.scratch = Path(self.folder.name)
        self.process: subprocess.Popen | None = None
        self.cpu_seconds = 0.0  # the child's CPU time (every thread) after its latest answer

    def start(self, runner: Path, arguments: list[str]) -> None:
        self.process = subprocess.Popen(
            [str(PYTHON), str(runner), "--serve", *arguments],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1,
        )

    def ask(self, path: Path, rec_only: bool = False) -> dict[str, Any]:
        """The runner's answer for the image file ``path`` (``polys``, ``texts``, ``scores``, ``seconds``)."""
        assert self.process is not None and self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"path": str(path), "rec_only": rec_only}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.label} runner ended (status {self.process.poll()})")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"{self.label}: {answer['error']}")
        self.cpu_seconds = float(answer["cpu_seconds"])
        return answer

    def ocr(self, image: np.ndarray) -> OCRLines:
        """BGR uint8 (H, W, 3) → lines in reading order; each engine hands the image over its own way."""
        raise NotImplementedError

    def close(self) -> None:
        if self.process is not None:
            if self.process.stdin is not None:
                self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.folder.cleanup()
