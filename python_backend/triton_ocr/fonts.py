"""A font that shows Chinese, for drawing recognised text. Found on the system or fetched once into the cache."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from triton_ocr.models.cache import model_home

log = logging.getLogger(__name__)

FONT_PACKAGE = "fonts-wqy-microhei"
FONT_MEMBER = "usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
SYSTEM_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)


def cached_font() -> Path:
    return model_home() / "fonts" / Path(FONT_MEMBER).name


def find_font() -> Path | None:
    """The first CJK-capable font: ``$TRITON_OCR_FONT``, the cache, then well-known system paths."""
    candidates = [os.environ.get("TRITON_OCR_FONT"), str(cached_font()), *SYSTEM_FONTS]
    return next((Path(c) for c in candidates if c and Path(c).is_file()), None)


def fetch_font() -> Path | None:
    """Make sure a CJK font exists; download Debian's WenQuanYi Micro Hei package into the cache if needed."""
    found = find_font()
    if found is not None:
        return found
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        log.warning("no CJK font found and no apt-get to fetch one: set TRITON_OCR_FONT to a .ttf/.ttc file")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        download = subprocess.run(["apt-get", "download", FONT_PACKAGE], cwd=tmp, capture_output=True, text=True)
        debs = list(Path(tmp).glob(f"{FONT_PACKAGE}_*.deb"))
        if download.returncode != 0 or not debs:
            log.warning("could not download %s: %s", FONT_PACKAGE, download.stderr.strip())
            return None
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), tmp], check=True)
        target = cached_font()
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(tmp) / FONT_MEMBER, target)
    return target
