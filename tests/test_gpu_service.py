"""``scripts/gpu_service_bench.py``, the GPU machine's one prepared script, rehearsed end to end on the CPU: pack a
bundle, unpack it into a fresh model cache, serve the ``gpu`` profile's repository (torch backend, CPU instances,
fp32), check parity with the in-process fp32 results and measure two concurrencies. The GPU run itself needs a GPU
machine (docs/gpu.md, "Procedure")."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from triton_fixtures import text_image

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_service_bench.py"


def load_script():  # noqa: ANN201 - the script as a module
    spec = importlib.util.spec_from_file_location("gpu_service_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_line_agreement_counts_identical_lines_per_image():
    bench = load_script()
    agreement = bench.line_agreement([["a", "b", "b"], ["x"]], [["b", "a", "c"], ["x"]])
    assert (agreement["identical_lines"], agreement["reference_lines"], agreement["identical_images"]) == (3, 4, 1)
    assert agreement["identical_share"] == 0.75
    assert agreement["differences"] == [{"image": 0, "only_reference": ["b"], "only_served": ["c"]}]


def test_ceiling_names_the_limit():
    bench = load_script()
    level = {"cpu_cores_busy": {"ocr_postprocess": 7.8, "text_rec": 0.5, "client": 0.4}, "gpu": {"util_mean_pct": 40}}
    assert bench.ceiling(level, {"ocr_postprocess": 8, "text_rec": 2}, 16).startswith("bound by ocr_postprocess")
    level["cpu_cores_busy"]["det_preprocess"] = 6.0
    assert bench.ceiling(level, {"ocr_postprocess": 8}, 16).startswith("host-CPU-bound: 14.7 of 16 cores")
    level["gpu"]["util_mean_pct"] = 93
    assert bench.ceiling(level, {}, 16).startswith("GPU-bound: 93% busy")
    quiet = {"cpu_cores_busy": {"text_rec": 0.2}, "gpu": None}
    assert bench.ceiling(quiet, {"text_rec": 2}, 16).startswith("not saturated")


@pytest.mark.triton
def test_cpu_rehearsal_of_the_device_script(tmp_path):
    pytest.importorskip("torch", reason="the rehearsal serves the torch backend: pip install -e '.[torch]'")
    images = tmp_path / "images"
    images.mkdir()
    for seed in (3, 4):
        (images / f"text_{seed}.png").write_bytes(text_image(seed, size=(480, 200), lines=4))
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    pack = [sys.executable, str(SCRIPT), "pack", str(tmp_path / "carry"), "--python", python, "--no-wheels",
            "--compression", "none", "--images", str(images), "--per-folder", "2", "--long-side", "0"]
    packed = subprocess.run(pack, capture_output=True, text=True, timeout=300)
    if packed.returncode != 0 and "TritonUnavailableError" in packed.stderr:
        pytest.skip(f"the tritonserver binary cannot be obtained here: {packed.stderr.strip()[-300:]}")
    assert packed.returncode == 0, packed.stderr[-3000:]
    out = tmp_path / "out"
    run = [sys.executable, str(SCRIPT), "run", "--carry", str(tmp_path / "carry"), "--home", str(tmp_path / "home"),
           "--device", "cpu", "--concurrency", "1", "2", "--requests-per-stream", "1", "--out", str(out)]
    done = subprocess.run(run, capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    report = json.loads((out / "results.json").read_text())
    assert report["served"]["runtime"]["engine"] == "torch" and report["served"]["det_size_multiple"] == 128
    same_steps = report["parity"]["vs_fp32_same_steps"]
    assert same_steps["reference_lines"] >= 6 and same_steps["identical_share"] == 1.0  # fp32 on both sides
    assert [level["concurrency"] for level in report["levels"]] == [1, 2]
    for level in report["levels"]:
        assert level["failures"] == 0 and level["images_per_s"] > 0 and level["gpu"] is None
        assert {"tritonserver", "text_det", "text_rec", "client"} <= set(level["cpu_ms_per_image"])
        assert level["models"]["text_rec"]["mean_batch"] >= 1 and level["ceiling"]
    assert "| 2 |" in (out / "report.md").read_text() and (out / "tritonserver.log").is_file()
