"""The model cache: where fetched and converted models live, and the file digests that key them."""

from __future__ import annotations

import hashlib
import os
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
