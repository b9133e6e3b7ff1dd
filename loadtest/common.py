"""Images for the locustfiles: files from folders, read once per locust process.

``LOADTEST_IMAGES``: folders separated by ``os.pathsep`` (default: ``../shared/data/photos_docs`` and
``../shared/data/icdar2015_blurred`` beside the project); ``LOADTEST_PER_FOLDER``: files per folder, evenly spaced
over the sorted list (default 30), or the smallest files with ``LOADTEST_SMALLEST=1``. Each simulated user
cycles through the list from its own starting point, so every image is sent about equally often.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FOLDERS = (ROOT.parent / "shared" / "data" / "photos_docs", ROOT.parent / "shared" / "data" / "icdar2015_blurred")
SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def folders() -> list[Path]:
    given = os.environ.get("LOADTEST_IMAGES")
    return [Path(part) for part in given.split(os.pathsep) if part] if given else list(DEFAULT_FOLDERS)


def load_images() -> list[bytes]:
    """The encoded image files to send (raises when none is found: a load test on nothing measures nothing)."""
    per_folder = int(os.environ.get("LOADTEST_PER_FOLDER", "30"))
    images = []
    for folder in folders():
        paths = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        if os.environ.get("LOADTEST_SMALLEST") == "1":
            paths = sorted(paths, key=lambda p: p.stat().st_size)[: per_folder or None]
        elif per_folder and len(paths) > per_folder:
            paths = [paths[(i * len(paths)) // per_folder] for i in range(per_folder)]
        images += [p.read_bytes() for p in paths]
    if not images:
        raise RuntimeError(f"no images under {', '.join(map(str, folders()))} (set LOADTEST_IMAGES)")
    return images


_users = itertools.count()


def image_cycle(images: list) -> Iterator:
    """``images`` endlessly; the k-th user of the process starts at position 37·k, so that runs with the same user
    count send the same images in the same order (steps of a load test stay comparable) and users spread out."""
    start = (37 * next(_users)) % len(images)
    return itertools.cycle(images[start:] + images[:start])
