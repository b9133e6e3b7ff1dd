"""``triton-ocr loadtest`` and the locustfiles: a short real run against Triton and the gateway on loopback."""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from triton_ocr.bench.loadtest_command import read_step

ROOT = Path(__file__).resolve().parents[1]

STATS = """Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,\
Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%
grpc,ocr,20,1,480,510.5,200,900,12,3.9,0.2,480,500,520,540,700,800,880,900,900,900,900
,Aggregated,20,1,480,510.5,200,900,12,3.9,0.2,480,500,520,540,700,800,880,900,900,900,900
"""


def test_read_step_takes_the_aggregated_line(tmp_path: Path) -> None:
    (tmp_path / "triton_u2_stats.csv").write_text(STATS)
    step = read_step(tmp_path / "triton_u2", "triton", 2)
    assert (step.requests, step.failures, step.throughput) == (20, 1, 3.9)
    assert (step.p50_ms, step.p95_ms, step.p99_ms) == (480, 800, 900)


@pytest.mark.triton
def test_quick_loadtest_writes_csv_plot_and_report(shared_data: Path, tmp_path: Path) -> None:
    # Only look for locust: importing it here would gevent-patch this pytest process (and deadlock it).
    if importlib.util.find_spec("locust") is None:
        pytest.skip("the loadtest extra is not installed")
    from triton_ocr.serving.server.install import TritonUnavailableError, install_tritonserver

    try:
        install_tritonserver()
    except TritonUnavailableError as exc:
        pytest.skip(f"the tritonserver binary cannot be obtained here: {exc}")
    completed = subprocess.run(  # the default --out, relative to where it runs (locust itself runs in loadtest/)
        [sys.executable, "-m", "triton_ocr.bench.loadtest_command", "--quick"],
        cwd=tmp_path, capture_output=True, text=True, timeout=540,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    tmp_path = tmp_path / "loadtest-results"
    with open(tmp_path / "summary.csv", newline="") as handle:
        steps = list(csv.DictReader(handle))
    assert [(s["target"], s["users"]) for s in steps] == [("triton", "1"), ("triton", "2"),
                                                         ("gateway", "1"), ("gateway", "2")]
    for step in steps:
        assert int(step["requests"]) > 0 and int(step["failures"]) == 0, step
        assert float(step["throughput"]) > 0 and float(step["p50_ms"]) > 0, step
    assert (tmp_path / "loadtest.png").stat().st_size > 0
    assert "loadtest.png" in (tmp_path / "report.html").read_text()
