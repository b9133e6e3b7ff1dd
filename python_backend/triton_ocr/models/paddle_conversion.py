"""Paddle inference models → ONNX, converted once with paddle2onnx and cached by content hash.

A Paddle inference folder holds a program — ``inference.pdmodel`` (PaddleOCR 2.x exports) or ``inference.json``
(PIR, PaddleX 3 exports) — and its weights, ``inference.pdiparams``. The converted graph lands in
``<model home>/converted/<sha256 of program + weights>/model.onnx`` with a ``source.json`` saying where it came from;
later runs (and machines that copy the cache) use it without Paddle installed.

Converting needs the ``paddle`` extra: paddle2onnx 2.x imports paddlepaddle to read either program format (it has no
paddle-free path). It runs in a subprocess, because importing paddle is slow, heavy and noisy; the result is loaded
once in ONNX Runtime before it is cached, so a broken conversion is never cached.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

from triton_ocr.errors import ModelNotFoundError
from triton_ocr.models.cache import sha256_of

log = logging.getLogger(__name__)

PROGRAM_FILES = ("inference.json", "inference.pdmodel")
PARAMS_FILE = "inference.pdiparams"
CONVERTED = "converted"
SOURCE_RECORD = "source.json"
OPSET = 14
CONVERTER_PACKAGES = ("paddle2onnx", "paddlepaddle")
INSTALL_HINT = "pip install 'triton-ocr[paddle]' (paddlepaddle + paddle2onnx)"


@dataclass(frozen=True)
class PaddleModel:
    """A Paddle inference model: ``program`` (``.json`` or ``.pdmodel``) and ``params`` (``.pdiparams``)."""

    program: Path
    params: Path

    @classmethod
    def find(cls, folder: Path) -> PaddleModel | None:
        """The Paddle model in ``folder`` (the PIR program first), or ``None`` if it holds none."""
        program = next((folder / name for name in PROGRAM_FILES if (folder / name).is_file()), None)
        if program is None:
            return None
        if not (folder / PARAMS_FILE).is_file():
            raise ModelNotFoundError(
                f"the Paddle inference model {program} has no {PARAMS_FILE} beside it (paddle2onnx needs both)"
            )
        return cls(program, folder / PARAMS_FILE)

    def digest(self) -> str:
        """sha256 of the program and the weights: the cache key."""
        return sha256_of(self.program, self.params)


def converter_versions() -> dict[str, str]:
    """Installed versions of the converter packages; :class:`ModelNotFoundError` when one is missing."""
    try:
        return {name: importlib.metadata.version(name) for name in CONVERTER_PACKAGES}
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelNotFoundError(f"converting a Paddle model to ONNX needs {exc.name}: {INSTALL_HINT}") from exc


def converted_onnx(model: PaddleModel, home: Path) -> Path:
    """The ONNX graph of ``model`` under ``home``, converted on first use (seconds; later calls only hash files)."""
    target = home / CONVERTED / model.digest()
    if (target / "model.onnx").is_file():
        return target / "model.onnx"
    versions = converter_versions()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".converting-", dir=target.parent))
    try:
        began = perf_counter()
        command = [sys.executable, "-m", __name__, str(model.program), str(model.params), str(staging / "model.onnx")]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise ModelNotFoundError(f"converting {model.program} to ONNX failed ({versions}):\n{tail}")
        record = {"program": str(model.program), "params": str(model.params), "opset": OPSET, **versions}
        (staging / SOURCE_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        staging.chmod(0o755)  # mkdtemp makes it private; a server running as another user reads the cache
        try:
            staging.rename(target)
        except OSError:
            if not (target / "model.onnx").is_file():  # not a concurrent conversion that finished first
                raise
        log.info("converted %s to %s in %.1f s", model.program, target / "model.onnx", perf_counter() - began)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target / "model.onnx"


def converted_models(home: Path) -> list[tuple[Path, dict]]:
    """Every converted model in the cache: (its ``model.onnx``, its source record)."""
    return [
        (record.parent / "model.onnx", json.loads(record.read_text(encoding="utf-8")))
        for record in sorted((home / CONVERTED).glob(f"*/{SOURCE_RECORD}"))
        if (record.parent / "model.onnx").is_file()
    ]


def convert(program: Path, params: Path, onnx_path: Path) -> None:
    """Run paddle2onnx on ``program`` + ``params`` and check that ONNX Runtime loads the result."""
    import onnxruntime
    import paddle2onnx

    paddle2onnx.export(str(program), str(params), str(onnx_path), opset_version=OPSET, optimize_tool="none")
    if not onnx_path.is_file():
        raise RuntimeError(f"paddle2onnx wrote no {onnx_path}")
    onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])


if __name__ == "__main__":
    os.environ.setdefault("GLOG_minloglevel", "2")
    convert(*map(Path, sys.argv[1:4]))
