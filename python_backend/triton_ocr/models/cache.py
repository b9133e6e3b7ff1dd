"""The model cache: where fetched and converted models live, and the file digests that key them."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path


def model_home() -> Path:
    """The model cache folder: ``$TRITON_OCR_HOME``, default ``~/.cache/triton-ocr``."""
    return Path(os.environ.get("TRITON_OCR_HOME", Path.home() / ".cache" / "triton-ocr")).expanduser()


def sha256_of(*paths: Path) -> str:
    """Hex sha256 of the files' contents, one after the other."""
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def derived_model(source: Path, cache: Path, key: bytes, transform: Callable[[bytes], bytes]) -> Path:
    """``transform`` of the ONNX file at ``source``, written once to ``cache/<sha256(key + source)>/model.onnx``
    (``key``: the transform's revision and settings) and reused while the source and the key stay the same."""
    data = Path(source).read_bytes()
    target = cache / hashlib.sha256(key + data).hexdigest() / "model.onnx"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.part")
        partial.write_bytes(transform(data))
        partial.replace(target)
    return target
