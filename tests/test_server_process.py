"""The server process's pieces without a server: the binary's wheel members, stale shared memory, and the
supervisor's detection of models whose stub died."""

from __future__ import annotations

import os
import subprocess

import pytest

from triton_ocr import contract
from triton_ocr.config import OCRConfig
from triton_ocr.serving.server.install import TritonUnavailableError, python_tag, wanted_members
from triton_ocr.serving.server.launcher import remove_stale_shm_regions
from triton_ocr.serving.server.supervisor import model_of, unhealthy_models

RELOADABLE = (contract.DET_PREPROCESS, contract.TEXT_DET, contract.TEXT_REC, contract.OCR_POSTPROCESS)
INSTANCES = {"det_preprocess_0_0", "text_det_0_0", "text_rec_0_0", "ocr_postprocess_0_0", "ocr_postprocess_0_1"}


def test_a_missing_stub_names_its_model():
    live = INSTANCES - {"ocr_postprocess_0_1"}
    assert unhealthy_models(INSTANCES, live, None, RELOADABLE) == {contract.OCR_POSTPROCESS}
    assert unhealthy_models(INSTANCES, INSTANCES, None, RELOADABLE) == set()
    assert unhealthy_models(INSTANCES, set(), None, RELOADABLE) == set(RELOADABLE)


def test_a_failed_probe_names_the_unhealthy_stub():
    error = "in ensemble 'ocr', Stub process 'text_rec_0_1' is not healthy."
    assert unhealthy_models(INSTANCES, INSTANCES, error, RELOADABLE) == {contract.TEXT_REC}
    assert unhealthy_models(INSTANCES, INSTANCES, "connection refused", RELOADABLE) == set()


def test_only_reloadable_models_are_named():
    error = "Stub process 'ocr_0_0' is not healthy"  # an ensemble has no instances to reload
    assert unhealthy_models({"mystery_model_0_0"}, set(), error, RELOADABLE) == set()
    assert model_of("textline_orientation_0_3") == "textline_orientation"


def test_only_the_needed_wheel_members_are_extracted():
    root = "pytriton/tritonserver/"
    names = [
        f"{root}bin/tritonserver",
        f"{root}backends/python/libtriton_python.so",
        f"{root}python_backend_stubs/{python_tag()}/triton_python_backend_stub",
        f"{root}python_backend_stubs/3.8/triton_python_backend_stub",
        "nvidia_pytriton.libs/libtritonserver-1.so",
        "nvidia_pytriton.libs/libpython3-2.13.so.1.0",
        "pytriton/client/client.py",
    ]
    assert sorted(wanted_members(names).values()) == [
        "backends/python/libtriton_python.so",
        "backends/python/triton_python_backend_stub",
        "bin/tritonserver",
        "lib/libtritonserver-1.so",
    ]
    with pytest.raises(TritonUnavailableError):
        wanted_members([f"{root}bin/tritonserver"])


def test_stale_shared_memory_of_dead_launchers_is_removed(tmp_path):
    child = subprocess.Popen(["true"])
    child.wait()
    dead_pid = child.pid
    stale = tmp_path / f"triton_ocr_{dead_pid}_ab_region"
    alive = tmp_path / f"triton_ocr_{os.getpid()}_cd_region"
    other = tmp_path / "someone_else"
    for path in (stale, alive, other):
        path.write_bytes(b"")
    assert remove_stale_shm_regions(tmp_path) == [stale]
    assert alive.exists() and other.exists()


def test_serve_on_every_interface_keeps_triton_on_loopback(monkeypatch):
    """``serve --host 0.0.0.0`` opens the gateway, not Triton (``--triton-host``, default 127.0.0.1); Triton's
    command line restricts its model-repository API (load, unload) to the launcher's key on HTTP and gRPC."""
    import argparse

    import triton_ocr.serving.server.command as command
    import triton_ocr.serving.server.launcher as launcher

    seen: dict[str, object] = {}

    class Recording(launcher.TritonServer):
        def start(self) -> launcher.TritonServer:
            seen["triton"], seen["key"] = self.host, self.admin_key
            seen["command"] = self.command(launcher.Path("tritonserver"), launcher.Path("b"), launcher.Path("r"))
            raise KeyboardInterrupt

    monkeypatch.setattr(launcher, "TritonServer", Recording)
    monkeypatch.setattr(command.signal, "signal", lambda *args: None)
    primary = OCRConfig().model_set
    parser = argparse.ArgumentParser()
    command.configure(parser)
    for argv, triton_host in ((["--host", "0.0.0.0"], "127.0.0.1"),
                              (["--host", "0.0.0.0", "--triton-host", "10.1.2.3"], "10.1.2.3")):
        assert command.run(parser.parse_args([*argv, "--models", primary])) == 0
        assert seen["triton"] == triton_host
        flags = [f for f in seen["command"] if "-address=" in f]
        assert flags == [f"--{kind}-address={triton_host}" for kind in ("http", "grpc", "metrics")]
        restricted = [f for f in seen["command"] if "restricted" in f]
        assert [f.split("=", 1)[0] for f in restricted] == ["--http-restricted-api", "--grpc-restricted-protocol"]
        assert all(f.endswith(f"=model-repository:{launcher.ADMIN_HEADER}={seen['key']}") for f in restricted)
        assert len(str(seen["key"])) >= 32
