"""Obtain a runnable ``tritonserver`` 2.51 (the 24.10 release) from the pinned ``nvidia-pytriton`` wheel.

Only the server binary, its bundled libraries and the python backend (stub for the running Python) are extracted,
through the model-fetch machinery (pip download, sha256 check, manifest), into ``<model cache>/tritonserver-2.51.0``.
The backend directory gets the python backend and the python-based ``onnxruntime`` and ``openvino`` backends.

The stub of this wheel is built against NumPy 1.x and misreads NumPy 2 arrays (garbage tensors, crashed stubs): when
this environment has NumPy 2, the stub runs in a small overlay environment holding ``numpy<2`` in front of this
environment's site-packages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import venv
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from triton_ocr.errors import OCRError
from triton_ocr.heap import MALLOC_SETTINGS
from triton_ocr.models.fetch import MANIFEST, WheelSource, extract, is_fetched, obtain_wheel
from triton_ocr.models.cache import model_home

PYTRITON = WheelSource(
    requirement="nvidia-pytriton==0.7.0",
    filename="nvidia_pytriton-0.7.0-py3-none-manylinux_2_35_x86_64.whl",
    sha256="21f063ff93bb426d0c06b7a55e7eb9efcfe62c0dddd9a908e9877e18710128df",
    members={},
)
STUB_NUMPY = "numpy==1.26.4"
SERVER_ROOT = "pytriton/tritonserver/"
LIBS = "nvidia_pytriton.libs/"
UNNEEDED_LIBS = ("libpython3",)
PYTHON_BASED_BACKENDS = Path(__file__).parents[1] / "in_triton" / "backends"  # <name>/model.py, copied into the backend directory


class TritonUnavailableError(OCRError):
    """The Triton server binary cannot be obtained or run on this machine."""


def python_tag() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def wanted_members(names: list[str]) -> dict[str, str]:
    """Wheel members → install paths: the server, its libraries, the python backend and this Python's stub."""
    backend = SERVER_ROOT + "backends/python/"
    stub = f"{SERVER_ROOT}python_backend_stubs/{python_tag()}/triton_python_backend_stub"
    members = {SERVER_ROOT + "bin/tritonserver": "bin/tritonserver", stub: "backends/python/triton_python_backend_stub"}
    for name in names:
        base = name.rsplit("/", 1)[-1]
        if name.startswith(backend) and base:
            members[name] = "backends/python/" + base
        elif name.startswith(LIBS) and base and not base.startswith(UNNEEDED_LIBS):
            members[name] = "lib/" + base
    if stub not in names:
        raise TritonUnavailableError(f"{PYTRITON.filename} has no python backend stub for Python {python_tag()}")
    return members


@dataclass(frozen=True)
class TritonInstall:
    """An extracted server: ``bin/tritonserver``, ``lib/`` and ``backends/{python,onnxruntime,openvino}``."""

    root: Path

    @property
    def binary(self) -> Path:
        return self.root / "bin" / "tritonserver"

    @property
    def lib_dir(self) -> Path:
        return self.root / "lib"

    @property
    def backend_dir(self) -> Path:
        return self.root / "backends"

    @property
    def stub_env(self) -> Path:
        return self.root / f"stub-env-py{python_tag()}"

    def recorded_source(self) -> WheelSource | None:
        manifest = self.root / MANIFEST
        if not manifest.is_file():
            return None
        recorded = json.loads(manifest.read_text()).get(PYTRITON.requirement, {})
        return replace(PYTRITON, members={dst: dst for dst in recorded}) if recorded else None

    def is_complete(self) -> bool:
        source = self.recorded_source()
        stub = "backends/python/triton_python_backend_stub"
        return source is not None and stub in source.members and is_fetched(source, self.root)


def install_tritonserver(home: Path | None = None, wheel_dir: Path | None = None) -> TritonInstall:
    """Extract the server from the pinned wheel (downloaded with pip unless ``wheel_dir`` holds it). Idempotent."""
    install = TritonInstall((home or model_home()) / "tritonserver-2.51.0")
    if not install.is_complete():
        with tempfile.TemporaryDirectory() as tmp:
            try:
                wheel = obtain_wheel(PYTRITON, wheel_dir, Path(tmp))
            except OCRError as exc:
                raise TritonUnavailableError(str(exc)) from exc
            with zipfile.ZipFile(wheel) as archive:
                source = replace(PYTRITON, members=wanted_members(archive.namelist()))
            install.root.mkdir(parents=True, exist_ok=True)
            digests = extract(source, wheel, install.root)
        (install.root / MANIFEST).write_text(json.dumps({PYTRITON.requirement: digests}, indent=2))
    for executable in (install.binary, install.backend_dir / "python" / "triton_python_backend_stub"):
        executable.chmod(0o755)
    for source in sorted(PYTHON_BASED_BACKENDS.glob("*/model.py")):
        target = install.backend_dir / source.parent.name / "model.py"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file() or target.read_bytes() != source.read_bytes():
            partial = target.with_suffix(".part")
            shutil.copyfile(source, partial)
            partial.replace(target)
    return install


def stub_python_bin(install: TritonInstall) -> Path:
    """The ``bin`` folder whose ``python3`` the stub takes its environment from (put first on PATH).

    This environment's own when its NumPy is 1.x; else an overlay venv with ``numpy<2`` whose ``.pth`` adds this
    environment's site-packages behind it (created once).
    """
    if int(np.__version__.split(".")[0]) < 2:
        return Path(sys.executable).parent
    env = install.stub_env
    site_packages = Path(sysconfig.get_path("purelib", vars={"base": str(env), "platbase": str(env)}))
    marker = site_packages / "zz_triton_ocr_main_env.pth"
    main_site = sysconfig.get_path("purelib")
    expected = f"import site; site.addsitedir({main_site!r})\n"
    if not marker.is_file() or marker.read_text() != expected:
        venv.EnvBuilder(with_pip=False, symlinks=True, clear=True).create(env)
        command = [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
            "--only-binary=:all:", "--target", str(site_packages), "--upgrade", STUB_NUMPY,
        ]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise TritonUnavailableError(f"could not install {STUB_NUMPY} for the python stub:\n{done.stderr.strip()}")
        marker.write_text(expected)
    return env / "bin"


def server_environment(install: TritonInstall) -> dict[str, str]:
    """The server's environment: bundled libraries and this Python's libpython first, the stub's python on PATH,
    :data:`MALLOC_SETTINGS`."""
    env = {**MALLOC_SETTINGS, **os.environ}
    libdirs = [str(install.lib_dir), sysconfig.get_config_var("LIBDIR") or ""]
    env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [*libdirs, env.get("LD_LIBRARY_PATH", "")]))
    env["PATH"] = os.pathsep.join([str(stub_python_bin(install)), env.get("PATH", "")])
    return env
