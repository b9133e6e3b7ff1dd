"""The benchmark's images: encoded files read once, the same bytes for every engine and every row.

Every row starts from the encoded file (decode included in its time): the in-process engines decode with
:func:`~triton_ocr.steps.image_loading.load_image`, Triton's ``det_preprocess`` and the gateway decode on their side.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

from triton_ocr.inputs import IMAGE_SUFFIXES

SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
DEFAULT_FOLDERS = (SHARED_DATA / "photos_docs", SHARED_DATA / "icdar2015_blurred")


@dataclass(frozen=True)
class BenchImage:
    """One encoded image file: ``name`` (folder/file) and its bytes."""

    name: str
    data: bytes


def image_paths(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def spread(items: list, count: int | None) -> list:
    """``count`` items evenly spaced over ``items`` (all of them when ``count`` is None or not smaller)."""
    if count is None or count >= len(items):
        return list(items)
    return [items[(index * len(items)) // count] for index in range(count)]


def select_images(folders: list[Path], per_folder: int | None, smallest: bool = False) -> list[BenchImage]:
    """Up to ``per_folder`` images of each folder: evenly spaced over its sorted files, or its smallest files."""
    images = []
    for folder in folders:
        paths = image_paths(folder)
        chosen = sorted(paths, key=lambda p: p.stat().st_size)[:per_folder] if smallest else spread(paths, per_folder)
        images += [BenchImage(f"{folder.name}/{p.relative_to(folder)}", p.read_bytes()) for p in chosen]
    return images


def shuffled(images: list[BenchImage], seed: int) -> list[BenchImage]:
    """The images in an order fixed by ``seed`` (every row of one round sends the same order)."""
    order = list(images)
    random.Random(seed).shuffle(order)
    return order


def downscaled(image: BenchImage, long_side: int, quality: int = 90) -> BenchImage:
    """``image`` re-encoded as JPEG with its long side at most ``long_side`` pixels."""
    from PIL import Image

    picture = Image.open(io.BytesIO(image.data)).convert("RGB")
    picture.thumbnail((long_side, long_side))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=quality)
    return BenchImage(f"{image.name}@{long_side}", buffer.getvalue())


def mixed_sizes(small: list[BenchImage], large: list[BenchImage], count: int, large_every: int) -> list[BenchImage]:
    """``count`` requests cycling through ``small``, every ``large_every``-th one taken from ``large`` instead."""
    sequence = []
    for index in range(count):
        if large and large_every and index % large_every == large_every - 1:
            sequence.append(large[(index // large_every) % len(large)])
        else:
            sequence.append(small[index % len(small)])
    return sequence
