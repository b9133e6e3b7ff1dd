"""Expand what ``predict()`` accepts into a flat stream of (input_path, source) pairs."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from triton_ocr.errors import InputNotFoundError, InvalidImageError
from triton_ocr.steps.image_loading import is_url

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".jp2", ".pbm", ".pgm", ".ppm"}
DOCUMENT_SUFFIXES = IMAGE_SUFFIXES | {".pdf"}
_unnamed = itertools.count(1)


def iter_inputs(x: Any) -> Iterator[tuple[str | None, Any]]:
    """Yield (input_path, source) for an array, bytes, path, URL, directory, ``{"img": ...}`` or a list of these.

    A directory yields its image files in name order; ``input_path`` is ``None`` for arrays and bytes.
    """
    if isinstance(x, dict):
        if "img" not in x:
            raise InvalidImageError("a dict input must have the key 'img'")
        yield from iter_inputs(x["img"])
    elif isinstance(x, (list, tuple)):
        for item in x:
            yield from iter_inputs(item)
    elif isinstance(x, (np.ndarray, bytes, bytearray, memoryview)):
        yield None, x
    elif is_url(x):
        yield str(x), x
    elif isinstance(x, (str, Path)):
        path = Path(x).expanduser()
        if path.is_dir():
            files = list_images(path)
            if not files:
                kinds = ", ".join(sorted(DOCUMENT_SUFFIXES))
                raise InputNotFoundError(f"the folder {x} holds no image or PDF file ({kinds})")
            yield from ((str(p), p) for p in files)
        elif path.is_file():
            yield str(path), path
        else:
            raise InputNotFoundError(f"no such file or directory: {x}")
    else:
        raise InvalidImageError(f"unsupported input type {type(x).__name__}")


def list_images(folder: Path) -> list[Path]:
    """Image and PDF files directly inside ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in DOCUMENT_SUFFIXES)


def unnamed_stem(source: Any) -> str | None:
    """A file name for the results of an input that has none (an array or bytes): ``array_0001``, ``array_0002``...
    numbered through the process, so that saved results never overwrite each other; ``None`` for paths and URLs."""
    if isinstance(source, (np.ndarray, bytes, bytearray, memoryview)):
        return f"array_{next(_unnamed):04d}"
    return None


def count_inputs(x: Any) -> int | None:
    """How many images ``x`` expands to, when known without decoding (for progress bars)."""
    if isinstance(x, (list, tuple)):
        counts = [count_inputs(item) for item in x]
        return None if None in counts else sum(counts)
    if isinstance(x, (str, Path)) and not is_url(x) and Path(x).expanduser().is_dir():
        return len(list_images(Path(x).expanduser()))
    return 1
