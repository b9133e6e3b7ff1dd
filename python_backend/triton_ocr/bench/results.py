"""What a benchmark run measured, per row, and the table, goals and JSON made from it."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field

import numpy as np

from triton_ocr.bench.processes import MiB
from triton_ocr.bench.remote import ModelStats


@dataclass
class Row:
    """One line of the table: an engine (in-process), or a served target at one concurrency."""

    label: str
    kind: str  # "in-process" | "triton" | "gateway"
    concurrency: int = 1
    target: str = ""  # the serving profile / variant of a triton or gateway row
    round_rates: list[float] = field(default_factory=list)  # images/s of each round
    latencies: list[float] = field(default_factory=list)  # seconds per image (request), every round
    failures: int = 0
    peak_rss: int = 0  # bytes: the worker process (in-process) or the serving processes
    stats: dict[str, ModelStats] = field(default_factory=dict)
    cpu_s: dict[str, float] = field(default_factory=dict)  # CPU seconds by process group, every round

    def add_cpu(self, before: dict[str, float], after: dict[str, float]) -> None:
        for group, seconds in after.items():
            self.cpu_s[group] = self.cpu_s.get(group, 0.0) + seconds - before.get(group, 0.0)

    def add_round(self, images: int, wall_s: float, latencies: list[float], failures: int = 0) -> None:
        self.round_rates.append(images / wall_s)
        self.latencies += latencies
        self.failures += failures

    def add_stats(self, delta: dict[str, ModelStats]) -> None:
        for name, stats in delta.items():
            self.stats[name] = self.stats.get(name, ModelStats()).plus(stats)

    @property
    def images_per_s(self) -> float:
        """The median of the rounds' images/s."""
        return statistics.median(self.round_rates) if self.round_rates else 0.0

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) * 1000 if self.latencies else 0.0

    def cpu_ms_per_image(self) -> float:
        """CPU milliseconds per image, all process groups together."""
        return sum(self.cpu_s.values()) / max(len(self.latencies), 1) * 1000

    def summary(self) -> dict:
        return {
            "label": self.label, "kind": self.kind, "concurrency": self.concurrency, "target": self.target,
            "images_per_s": self.images_per_s, "round_rates": self.round_rates,
            "p50_ms": self.percentile_ms(50), "p95_ms": self.percentile_ms(95), "p99_ms": self.percentile_ms(99),
            "failures": self.failures, "peak_rss_mib": self.peak_rss / MiB, "requests": len(self.latencies),
            "model_stats": {name: asdict(stats) for name, stats in self.stats.items()},
            "cpu_ms_per_image": {group: s / max(len(self.latencies), 1) * 1000 for group, s in self.cpu_s.items()},
        }


def best(rows: list[Row], kind: str, target: str | None = None) -> Row | None:
    candidates = [r for r in rows if r.kind == kind and (target is None or r.target == target) and r.round_rates]
    return max(candidates, key=lambda r: r.images_per_s, default=None)


def find(rows: list[Row], label: str) -> Row | None:
    return next((r for r in rows if r.label == label), None)


def find_prefix(rows: list[Row], prefix: str) -> Row | None:
    return next((r for r in rows if r.label.startswith(prefix)), None)


def table(rows: list[Row], baselines: tuple[str, ...] = ("rapidocr", "ours")) -> str:
    """A Markdown table: images/s (median of rounds, min–max), latency percentiles, peak RSS, and the ratio to each
    baseline row the run has (RapidOCR, ours: the peers' rows against ours in the same run)."""
    bases = [base for base in (find(rows, label) for label in baselines) if base and base.images_per_s]
    lines = [
        "| row | concurrency | images/s | rounds min–max | p50 ms | p95 ms | peak RSS MiB |"
        + "".join(f" vs {base.label} |" for base in bases),
        "|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(bases),
    ]
    for row in rows:
        if not row.round_rates:
            continue
        failed = f" ({row.failures} failed)" if row.failures else ""
        lines.append(
            f"| {row.label}{failed} | {row.concurrency} | {row.images_per_s:.2f} | "
            f"{min(row.round_rates):.2f}–{max(row.round_rates):.2f} | {row.percentile_ms(50):.0f} | "
            f"{row.percentile_ms(95):.0f} | {row.peak_rss / MiB:.0f} |"
            + "".join(f" {row.images_per_s / base.images_per_s:.2f}× |" for base in bases)
        )
    return "\n".join(lines)


def goals(rows: list[Row], target: str) -> list[str]:
    """The issue's goals, computed from this run's rows (those that the run measured)."""
    out = []
    rapid, ours = find(rows, "rapidocr"), find(rows, "ours")
    top = best(rows, "triton", target)
    if rapid and top:
        ratio = top.images_per_s / rapid.images_per_s
        out.append(f"Triton best ({top.label}) / RapidOCR images/s = {ratio:.2f}  (goal ≥ 1.3: "
                   f"{'met' if ratio >= 1.3 else 'missed'})")
    if ours and top and ours.images_per_s:
        ratio = top.images_per_s / ours.images_per_s
        out.append(f"Triton best ({top.label}) / ours images/s = {ratio:.2f}  (goal ≥ 1.0: "
                   f"{'met' if ratio >= 1.0 else 'missed'})")
        if top.cpu_s and ours.cpu_s:
            ratio = top.cpu_ms_per_image() / ours.cpu_ms_per_image()
            out.append(f"... its CPU per image / ours = {top.cpu_ms_per_image():.0f} / {ours.cpu_ms_per_image():.0f} ms"
                       f" = {ratio:.2f}  (goal ≤ 1.1: {'met' if ratio <= 1.1 else 'missed'})")
    single = next((r for r in rows if r.kind == "triton" and r.target == target and r.concurrency == 1), None)
    if ours and single and ours.latencies:
        ratio = single.percentile_ms(50) / ours.percentile_ms(50)
        out.append(f"Triton c=1 p50 / ours p50 = {single.percentile_ms(50):.0f} / {ours.percentile_ms(50):.0f} ms"
                   f" = {ratio:.2f}  (goal ≤ 1.2: {'met' if ratio <= 1.2 else 'missed'}; the first serving "
                   f"issue's ≤ 1.1: {'met' if ratio <= 1.1 else 'missed'})")
    peer = find(rows, "faster-paddle:small")
    if peer and top and peer.images_per_s:
        ratio = top.images_per_s / peer.images_per_s
        out.append(f"Triton best ({top.label}) / faster-paddle small images/s = {ratio:.2f}  (goal ≥ 1.3: "
                   f"{'met' if ratio >= 1.3 else 'missed'})")
    tiny, peer_tiny = find_prefix(rows, "ours:PP-OCRv6_tiny"), find(rows, "faster-paddle:tiny")
    if tiny and peer_tiny and peer_tiny.images_per_s:
        ratio = tiny.images_per_s / peer_tiny.images_per_s
        out.append(f"{tiny.label} / faster-paddle tiny images/s = {ratio:.2f}  (goal ≥ 1.0: "
                   f"{'met' if ratio >= 1.0 else 'missed'})")
    for gateway in (r for r in rows if r.kind == "gateway" and r.round_rates):
        grpc = next((r for r in rows if r.kind == "triton" and r.target == gateway.target
                     and r.concurrency == gateway.concurrency), None)
        if grpc:
            ratio = gateway.images_per_s / grpc.images_per_s
            out.append(f"{gateway.label} / gRPC at c={gateway.concurrency} = {ratio:.2f}  (goal ≥ 0.9: "
                       f"{'met' if ratio >= 0.9 else 'missed'})")
    return out


def cpu_table(rows: list[Row]) -> str:
    """CPU milliseconds per image by process (the engine's worker; tritonserver and each model's stubs)."""
    groups = sorted({g for r in rows for g in r.cpu_s}, key=lambda g: (g != "worker", g != "tritonserver", g))
    lines = ["| row | " + " | ".join(groups) + " | all | wall ms per image |", "|---|" + "---:|" * (len(groups) + 2)]
    for row in rows:
        if not row.cpu_s or not row.latencies:
            continue
        count = len(row.latencies)
        per = {g: row.cpu_s.get(g, 0.0) / count * 1000 for g in groups}
        wall = 1000 / row.images_per_s if row.images_per_s else 0
        lines.append(f"| {row.label} | " + " | ".join(f"{per[g]:.0f}" if g in row.cpu_s else "–" for g in groups)
                     + f" | {row.cpu_ms_per_image():.0f} | {wall:.0f} |")
    return "\n".join(lines)
