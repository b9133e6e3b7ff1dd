"""Plots of the benchmark and load-test results (matplotlib, Agg backend: PNG files, no display)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path


def _pyplot():  # noqa: ANN202
    try:
        import matplotlib
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "the plots need matplotlib, which the loadtest extra installs: pip install -e '.[loadtest]'"
        ) from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(series: dict[str, list[dict]], x_key: str, x_label: str, path: Path, title: str,
                references: dict[str, float] | None = None) -> Path:
    """Two panels: throughput vs ``x_key``, and p50/p95/p99 latency vs ``x_key``, one line per series.

    ``series``: ``{name: [{x_key, "throughput", "p50_ms", "p95_ms", "p99_ms"}, ...]}``; ``references``: horizontal
    lines on the throughput panel (e.g. the in-process engines' images/s).
    """
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4), dpi=80)
    ticks: set[int] = set()
    for index, (name, points) in enumerate(series.items()):
        points = sorted(points, key=lambda p: p[x_key])
        xs = [p[x_key] for p in points]
        ticks.update(xs)
        colour = f"C{index}"
        left.plot(xs, [p["throughput"] for p in points], marker="o", color=colour, label=name)
        for key, style in (("p50_ms", "-"), ("p95_ms", "--"), ("p99_ms", ":")):
            if all(key in p for p in points):
                right.plot(xs, [p[key] / 1000 for p in points], style, marker=".", color=colour,
                           label=f"{name} {key[:3]}")
    for index, (name, value) in enumerate((references or {}).items()):
        left.axhline(value, linestyle="--", linewidth=1, color="grey")
        left.text(0.01 + 0.33 * (index % 3), value, f" {name} {value:.2f}", transform=left.get_yaxis_transform(),
                  fontsize=7, va="bottom", color="dimgrey")
    for axis in (left, right):
        axis.set_xscale("log", base=2)
        axis.set_xticks(sorted(ticks), [str(t) for t in sorted(ticks)])
        axis.minorticks_off()
        axis.set_xlabel(x_label)
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=7)
    left.set_ylabel("images/s")
    top = max([p["throughput"] for points in series.values() for p in points] + list((references or {}).values()))
    left.set_ylim(0, top * 1.15)
    right.set_ylabel("latency, s")
    right.set_ylim(bottom=0)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def plot_bench(rows: list[dict], path: Path) -> Path:
    """The benchmark's served rows vs concurrency, with the in-process engines as reference lines."""
    series: dict[str, list[dict]] = defaultdict(list)
    references = {}
    for row in rows:
        if row["kind"] == "in-process":
            references[row["label"]] = row["images_per_s"]
        else:
            name = row["label"].rsplit(" c=", 1)[0]
            series[name].append({"concurrency": row["concurrency"], "throughput": row["images_per_s"],
                                 "p50_ms": row["p50_ms"], "p95_ms": row["p95_ms"], "p99_ms": row["p99_ms"]})
    return plot_curves(series, "concurrency", "requests in flight", path, "triton-ocr bench", references)


def plot_memory(samples: list[tuple[int, dict[str, int]]], path: Path) -> Path:
    """RSS of each serving process (and their sum) vs completed requests."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(8, 4), dpi=80)
    counts = [count for count, _ in samples]
    labels = sorted({label for _, sizes in samples for label in sizes})
    for label in labels:
        axis.plot(counts, [sizes.get(label, 0) / 2**20 for _, sizes in samples], linewidth=1, label=label)
    axis.plot(counts, [sum(sizes.values()) / 2**20 for _, sizes in samples], "k-", linewidth=2, label="all")
    axis.set_xlabel("requests completed")
    axis.set_ylabel("RSS, MiB")
    axis.set_ylim(bottom=0)
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=6, ncol=2)
    figure.suptitle("RSS of the serving processes", fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
