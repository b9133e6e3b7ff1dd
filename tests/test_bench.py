"""``triton-ocr bench``: the quick mode runs every row end to end (no speed assertions), and its pieces."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from triton_ocr.bench.command import profile_variant
from triton_ocr.bench.data import BenchImage, mixed_sizes, spread
from triton_ocr.bench.extras import missing_extras
from triton_ocr.bench.inprocess import needs_reference_env
from triton_ocr.bench.memory import growth_table
from triton_ocr.bench.results import Row, goals, table
from triton_ocr.serving.repository.profiles import get_profile

ROOT = Path(__file__).resolve().parents[1]


def test_spread_takes_evenly_spaced_items() -> None:
    assert spread(list(range(10)), 5) == [0, 2, 4, 6, 8]
    assert spread(list(range(3)), 5) == [0, 1, 2]
    assert spread(list(range(3)), None) == [0, 1, 2]


def test_mixed_sizes_puts_a_large_image_every_nth_request() -> None:
    small = [BenchImage(f"s{i}", b"") for i in range(3)]
    large = [BenchImage("L", b"")]
    names = [image.name for image in mixed_sizes(small, large, 10, 5)]
    assert names == ["s0", "s1", "s2", "s0", "L", "s2", "s0", "s1", "s2", "L"]


def test_profile_variant_replaces_dotted_fields() -> None:
    variant = profile_variant("cpu", "alt", ["text_rec.instances=1", "text_det.preferred_batch_sizes=[2]",
                                             'pipeline_defaults={"text_rec":{"batch_size":4}}'])
    assert variant.name == "alt"
    assert variant.inference_models["text_rec"].instances == 1
    assert variant.inference_models["text_det"].preferred_batch_sizes == (2,)
    assert variant.pipeline_defaults == {"text_rec": {"batch_size": 4}}
    assert get_profile("cpu").inference_models["text_rec"].instances == 2  # the base profile is left alone
    for bad in ("text_rec.no_such_field=1", "no_such_model.instances=2", "kind.x=1"):
        with pytest.raises(SystemExit):
            profile_variant("cpu", "bad", [bad])
    with pytest.raises(SystemExit, match="(?s)--variant spin: .*spin a core"):  # a value the settings refuse
        profile_variant("cpu", "spin", ["text_rec.queue.allow_timeout_override=false"])


def test_table_and_goals_from_rows() -> None:
    rapid, ours = Row("rapidocr", "in-process"), Row("ours", "in-process")
    rapid.add_round(10, 10.0, [1.0] * 10)
    ours.add_round(10, 5.0, [0.5] * 10)
    single, four = Row("triton c=1", "triton", 1, "cpu"), Row("triton c=4", "triton", 4, "cpu")
    single.add_round(10, 5.0, [0.52] * 10)
    four.add_round(10, 4.0, [1.6] * 10)
    gateway = Row("gateway c=4", "gateway", 4, "cpu")
    gateway.add_round(10, 4.2, [1.7] * 10)
    rows = [rapid, ours, single, four, gateway]
    text = table(rows)
    assert "| triton c=4 | 4 | 2.50 |" in text and "| vs rapidocr | vs ours |" in text
    assert "| 2.50× | 1.25× |" in text  # triton c=4 against rapidocr and against ours, in the same run
    assert "vs rapidocr" not in table(rows[1:]) and "| 1.25× |" in table(rows[1:])  # only the baselines it has
    met = goals(rows, "cpu")
    assert "2.50" in met[0] and "met" in met[0]
    assert "Triton best (triton c=4) / ours images/s = 1.25  (goal ≥ 1.0: met)" in met[1]
    assert "= 1.04  (goal ≤ 1.2: met; the first serving issue's ≤ 1.1: met)" in met[2]
    assert "0.95" in met[3] and "met" in met[3]
    ours.add_cpu({}, {"worker": 5.0})  # 10 images: 500 CPU ms each in-process, 600 in Triton
    four.add_cpu({}, {"tritonserver": 1.0, "text_rec": 5.0})
    peer, tiny, peer_tiny = Row("faster-paddle:small", "in-process"), Row("ours:PP-OCRv6_tiny:bf16", "in-process"), \
        Row("faster-paddle:tiny", "in-process")
    peer.add_round(10, 5.0, [0.5] * 10)
    tiny.add_round(10, 1.0, [0.1] * 10)
    peer_tiny.add_round(10, 0.8, [0.08] * 10)
    met = goals([*rows, peer, tiny, peer_tiny], "cpu")
    assert "its CPU per image / ours = 600 / 500 ms = 1.20  (goal ≤ 1.1: missed)" in met[2]
    assert "Triton best (triton c=4) / faster-paddle small images/s = 1.25  (goal ≥ 1.3: missed)" in met[4]
    assert "ours:PP-OCRv6_tiny:bf16 / faster-paddle tiny images/s = 0.80  (goal ≥ 1.0: missed)" in met[5]


def test_growth_table_reports_growth_from_request_500() -> None:
    mib = 1024 * 1024
    samples = [(0, {"tritonserver": 100 * mib, "gateway": 50 * mib}),
               (500, {"tritonserver": 200 * mib, "gateway": 100 * mib}),
               (2000, {"tritonserver": 210 * mib, "gateway": 100 * mib})]
    text, growth = growth_table(samples, 500)
    assert "| tritonserver | 100 | 200 | 210 | +5.0% |" in text
    assert growth == pytest.approx(10 / 300 * 100)


@pytest.mark.triton
def test_quick_bench_measures_every_row(shared_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("rapidocr_onnxruntime", reason="the RapidOCR reference is a dev dependency")
    from triton_ocr.serving.server.install import TritonUnavailableError, install_tritonserver

    try:
        install_tritonserver()
    except TritonUnavailableError as exc:
        pytest.skip(f"the tritonserver binary cannot be obtained here: {exc}")
    out = tmp_path / "bench.json"
    completed = subprocess.run(
        [sys.executable, "-m", "triton_ocr.cli", "bench", "--quick", "--json", str(out),
         "--plot", str(tmp_path / "bench.png"), "--log-dir", str(tmp_path / "logs")],
        cwd=ROOT, capture_output=True, text=True, timeout=540,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    rows = {row["label"]: row for row in json.loads(out.read_text())["rows"]}
    gateway = next(label for label in rows if label.startswith("gateway c="))
    expected = ["rapidocr", "ours", "ours-fp32", "ours-onnxruntime", "triton c=1", "triton c=2", gateway]
    assert sorted(rows) == sorted(expected)
    for label in expected:
        row = rows[label]
        assert f"| {label} |" in completed.stdout
        assert row["failures"] == 0, label
        assert row["requests"] == 4, label
        assert row["images_per_s"] > 0 and row["p50_ms"] > 0 and row["p95_ms"] > 0, label
        assert row["peak_rss_mib"] > 0, label
    assert rows["triton c=1"]["model_stats"]["text_det"]["requests"] == 4
    assert (tmp_path / "bench.png").stat().st_size > 0


def test_warm_up_rounds_run_every_image_through_every_row_untimed(tmp_path: Path) -> None:
    """``--warmup-rounds N``: N passes of every image through each in-process worker and each server target
    (at the highest concurrency) before the timed rounds, no row recorded; 0 keeps only the first-call pass."""
    import argparse

    from triton_ocr.bench.command import Bench, configure

    images = [BenchImage(f"i{n}", b"") for n in range(5)]
    worker_runs: list[str] = []
    target_calls: list[str] = []
    worker = type("Worker", (), {"run": lambda self, image: worker_runs.append(image.name)})()
    target = type("Target", (), {"call": lambda self, image: target_calls.append(image.name)})()
    parser = argparse.ArgumentParser()
    configure(parser)
    for rounds in (0, 2):
        worker_runs.clear(), target_calls.clear()
        args = parser.parse_args(
            ["--warmup-rounds", str(rounds), "--log-dir", str(tmp_path), "--concurrency", "1", "4"]
        )
        bench = Bench(args, images)
        bench.workers, bench.targets = {"ours": worker}, [target]
        bench.warm_up(args.warmup_rounds)
        assert sorted(worker_runs) == sorted(["i0", "i1", "i2", "i3", "i4"] * rounds)
        assert len(target_calls) == 4 + 5 * rounds and bench.rows == []
    with pytest.raises(SystemExit):
        parser.parse_args(["--warmup-rounds", "-1"])


def test_a_missing_extra_is_named_with_the_command_that_installs_it() -> None:
    assert missing_extras("bench", {"json": "serve"}) is None
    assert missing_extras("loadtest", {"no_such_module_here": "loadtest", "json": "serve"}) == (
        "triton-ocr loadtest needs no_such_module_here (the loadtest extra): pip install -e '.[loadtest]' "
        "(scripts/setup.sh --dev installs every extra)")


def test_the_engines_of_the_reference_environment_are_known() -> None:
    """What ``bench --quick`` leaves out where ``.venv-reference`` is not built."""
    names = ("rapidocr", "ours", "ours-fp32", "rapidocr3", "faster-paddle:tiny", "ours:PP-OCRv6_tiny:bf16")
    assert [name for name in names if needs_reference_env(name, "OCR")] == ["rapidocr", "rapidocr3", "faster-paddle:tiny"]
    v4 = Path(__file__).parent / "data" / "paddlex" / "OCR_tutorial.yaml"  # a PP-OCRv4 pipeline: RapidOCR 1.4.4
    assert not needs_reference_env("rapidocr", str(v4))


def test_the_orientation_cost_report_has_a_row_per_switch(shared_data: Path, capsys: pytest.CaptureFixture) -> None:
    from triton_ocr.bench import orientation_cost

    folder = shared_data / "sroie_receipts" / "img"
    assert orientation_cost.main(["--images", str(folder), "--per-folder", "2", "--rounds", "1", "--no-triton"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "ms" not in line]
    assert [row.split(" | ")[0] for row in rows] == ["| off", "| lines", "| page", "| both"]
    assert rows[0].endswith("| 1.00 |")
