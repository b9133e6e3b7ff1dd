"""The soak test's report: fault windows and recovery per kill, verdicts, errors by status, RSS over time; written
as JSON, markdown and a PNG plot."""

from __future__ import annotations

import json
import warnings
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from triton_ocr.bench.soak_clients import Outcome


def group_of(label: str) -> str:
    """``text_rec_0_1`` → ``text_rec``; ``leaked:text_rec_0_1:PID`` → ``leaked stubs``; ``tritonserver``,
    ``gateway`` stay."""
    if label.startswith("leaked:"):
        return "leaked stubs"
    head, _, tail = label.rpartition("_")
    return head.rpartition("_")[0] if tail.isdigit() and head.rpartition("_")[2].isdigit() else label


def fault_windows(outcomes: list[Outcome], kills: list[dict[str, Any]], grace: float, end: float) -> list[dict]:
    """Each kill with its recovery: the first good answer to a request sent after it (seconds after the kill), the
    window [kill, that answer + ``grace``], the failures that ended inside it by status, and two last failures:
    ``last_failure_s``, of the requests sent after the kill — the recovery time the run is judged by: until then
    a new request could still fail — and ``last_victim_s``, of those already in flight at the kill (a request inside
    the killed stub, or one still in a step before it, fails whenever it gets there: seconds later for a large
    image). And the good images answered right while it healed (from the kill to ``last_failure_s``: where the killed
    model has other instances, what they served meanwhile); and the requests the client library sent again while
    the model healed (``retried``) with the last one's answer (``last_retried_answer_s`` after the kill: the
    heal as a client that waits sees it)."""
    windows = []
    for kill in kills:
        answers = [o.end for o in outcomes if o.kind == "good" and o.verdict == "ok" and o.start >= kill["t"]]
        recovered = min(answers) if answers else None
        until = (recovered + grace) if recovered is not None else end
        failed = [o for o in outcomes if o.verdict != "ok" and kill["t"] <= o.end <= until]
        after = [o.end for o in failed if o.start >= kill["t"]]
        victims = [o.end for o in failed if o.start < kill["t"]]
        healed = max(after) if after else kill["t"]
        served = [o for o in outcomes if o.kind == "good" and o.verdict == "ok" and kill["t"] <= o.end <= healed]
        retried = [o.end for o in outcomes if o.attempts > 1 and kill["t"] <= o.end <= until]
        windows.append({**kill, "recovery_s": None if recovered is None else round(recovered - kill["t"], 2),
                        "last_failure_s": round(healed - kill["t"], 2) if after else None,
                        "last_victim_s": round(max(victims) - kill["t"], 2) if victims else None,
                        "window": [kill["t"], round(until, 2)], "failures": dict(Counter(o.status for o in failed)),
                        "served_while_healing": len(served),
                        "failed_while_healing": sum(o.kind == "good" and o.start >= kill["t"] for o in failed),
                        "retried": len(retried),
                        "last_retried_answer_s": round(max(retried) - kill["t"], 2) if retried else None})
    return windows


def slow_recoveries(windows: list[dict], max_recovery_s: float) -> list[float]:
    """The kills (their times) that never saw a good answer again, or whose last failure came after
    ``max_recovery_s``."""
    return [w["t"] for w in windows
            if w["recovery_s"] is None or (w["last_failure_s"] or 0.0) > max_recovery_s]


def sibling_service(windows: list[dict]) -> dict[str, Any]:
    """For kills of one instance of a model that has several: the good images answered right and those failed
    while it healed (what the other instances served meanwhile)."""
    several = [w for w in windows if w.get("instances", 1) > 1]
    return {"kills": len(several), "served": sum(w["served_while_healing"] for w in several),
            "failed": sum(w["failed_while_healing"] for w in several),
            "healing_s": sorted(w["last_failure_s"] or 0.0 for w in several)}


def verdicts(outcomes: list[Outcome], windows: list[dict]) -> tuple[Counter, list[Outcome]]:
    """Verdict counts, transient failures split by whether a fault window holds them; and the outcomes that fail
    the run."""
    counts: Counter = Counter()
    problems = []
    for outcome in outcomes:
        verdict = outcome.verdict
        if verdict == "transient":
            inside = any(w["window"][0] <= outcome.end <= w["window"][1] for w in windows)
            verdict = "transient_in_window" if inside else "transient_outside_window"
        counts[verdict] += 1
        if verdict not in ("ok", "transient_in_window"):
            problems.append(outcome)
    return counts, problems


BIN_S = 30.0
"""Private memory is judged on the floor of 30-second bins, the least a process held in each: a request raises
the ceiling for as long as it is in flight (OpenVINO's buffers for one large input, a 6000² page drawn in the
gateway), a leak raises the floor of every bin. Medians were used until run 7 of the 30-minute soak, whose gateway
held 62.0–62.3 MiB between requests all run long while a cluster of large pages filled three samples of a bin
near the end (docs/reliability.md)."""
SETTLE_S = 30.0
MIN_LIFE_S = 180.0
"""A stub's life (from the reload after its model's last kill to the next) is judged from ``SETTLE_S`` after it
starts, and only when at least ``MIN_LIFE_S`` of it remains: a fresh process cannot carry a leak over from its
predecessor, and its first minutes are its caches filling."""


def rss_summary(samples: list[dict[str, Any]], warmup: float,
                kills: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Memory per group (stubs summed by model) after ``warmup``: RSS medians of a span of 10 % of the run (at least
    60 s) just after it and at the end, and the peak; and the growth of private memory (:func:`life_growth`: a
    process's own heap, where a leak grows; the /dev/shm regions it maps are reported apart, as ``shm``)."""
    series = [{"t": s["t"], **grouped(s["rss_mib"])} for s in samples]
    private = [{"t": s["t"], **grouped(s.get("private_mib", s["rss_mib"]))} for s in samples]
    if not series:
        return {"series": [], "groups": []}
    end = series[-1]["t"]
    span = max(60.0, 0.1 * end)
    measured = [s for s in series if s["t"] >= warmup] or series[-1:]
    early = [s for s in measured if s["t"] <= measured[0]["t"] + span]
    late = [s for s in measured if s["t"] >= max(end - span, early[-1]["t"])] or series[-1:]
    groups = sorted({key for s in series for key in s if key != "t"})
    restarts = defaultdict(list)
    for kill in kills or []:
        restarts[kill["model"]].append(kill["t"])
    table = {}
    for g in [*groups, "total"]:
        growth, lives = (None, 0) if g == "leaked stubs" else life_growth(  # those: none at the end
            private, series, g, measured[0]["t"], end, [] if g == "total" else restarts[g])
        if g == "total" and any(restarts.values()):
            growth = None  # the sum spans every restart: judged by group
        table[g] = {"warm": median_of(early, g), "final": median_of(late, g),
                    "peak": max(s.get(g, 0.0) for s in series), "growth_pct": growth, "lives_judged": lives}
    shm = [{"t": s["t"], **s.get("shm_mib", {})} for s in samples]
    shm_warm = next((s for s in shm if s["t"] >= warmup), shm[-1])
    return {"warmup_s": measured[0]["t"], "warm_until_s": early[-1]["t"], "final_from_s": late[0]["t"],
            "end_s": end, "groups": groups, "table": table, "series": series, "private_series": private,
            "shm": {"warm": shm_warm, "final": shm[-1], "series": shm}}


def life_growth(private: list[dict[str, float]], rss: list[dict[str, float]], group: str, start: float, end: float,
                restarts: list[float]) -> tuple[float | None, int]:
    """The largest growth of ``group``'s private memory over one life (``None`` if no life is long enough), and how
    many lives were judged. Lives: ``start``–``end`` cut at ``restarts``, each from ``SETTLE_S`` after a restart,
    judged when ``MIN_LIFE_S`` long; growth: the rise of the least-squares line through the life's 30-second
    floors of private memory, in % of the life's median RSS (the process's whole footprint: RSS with the swings
    of the shared regions it maps taken out)."""
    cuts = sorted(t for t in restarts if start < t < end)
    bounds = zip([start, *(t + SETTLE_S for t in cuts)], [*cuts, end])
    growths = []
    for first, last in bounds:
        if last - first < MIN_LIFE_S:
            continue
        life = [s for s in private if first <= s["t"] <= last and group in s]
        footprint = median_of([s for s in rss if first <= s["t"] <= last and group in s], group)
        rise = rise_mib(binned(life, group, first, last), group)
        if rise is not None and footprint > 0:
            growths.append(round(100 * rise / footprint, 1))
    return (max(growths) if growths else None), len(growths)


def binned(series: list[dict[str, float]], group: str, origin: float, end: float) -> list[dict[str, float]]:
    """The floor (least sample) of ``group`` per :data:`BIN_S` bin from ``origin``, at the bin's middle; whole bins
    before ``end`` only (a last, partial bin of one or two samples has no floor to speak of)."""
    bins: dict[int, list[float]] = defaultdict(list)
    whole = int((end - origin) // BIN_S)
    for s in series:
        index = int((s["t"] - origin) // BIN_S)
        if index < whole:
            bins[index].append(s[group])
    return [{"t": origin + (i + 0.5) * BIN_S, group: float(min(v))} for i, v in sorted(bins.items())]


def rise_mib(series: list[dict[str, float]], group: str) -> float | None:
    """The rise of the least-squares line through ``series`` over its time span."""
    t = np.array([s["t"] for s in series])
    y = np.array([s.get(group, 0.0) for s in series])
    if len(series) < 2 or t[-1] == t[0]:
        return None
    slope, _ = np.polyfit(t, y, 1)
    return float(slope * (t[-1] - t[0]))


def median_of(series: list[dict[str, float]], group: str) -> float:
    return round(float(np.median([s.get(group, 0.0) for s in series])), 1)


def grown_groups(table: dict[str, dict[str, Any]], max_growth_pct: float) -> list[str]:
    """The process groups (and ``total``) whose RSS grew by more than ``max_growth_pct`` after warm-up, and
    ``leaked stubs`` if any were left at the end."""
    grown = [g for g, row in table.items() if g != "leaked stubs" and (row["growth_pct"] or 0.0) > max_growth_pct]
    return grown + (["leaked stubs"] if table.get("leaked stubs", {}).get("final") else [])


def grouped(sizes: dict[str, float]) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for label, mib in sizes.items():
        totals[group_of(label)] += mib
    totals["total"] = sum(sizes.values())
    return {key: round(value, 1) for key, value in totals.items()}


def latencies(outcomes: list[Outcome]) -> dict[str, dict[str, float]]:
    """p50/p95 seconds of good images answered right, per channel."""
    table = {}
    for channel in sorted({o.channel for o in outcomes}):
        times = [o.end - o.start for o in outcomes if o.channel == channel and o.kind == "good" and o.verdict == "ok"]
        if times:
            table[channel] = {"p50_s": round(float(np.percentile(times, 50)), 3),
                              "p95_s": round(float(np.percentile(times, 95)), 3), "answers": len(times)}
    return table


def summarise(soak: Any, restarts: int, reloads: int) -> dict[str, Any]:  # noqa: ANN401 - a soak.Soak
    """Everything the reports show, as plain JSON types."""
    args, outcomes = soak.args, sorted(soak.outcomes, key=lambda o: o.end)
    end = max([o.end for o in outcomes] + [args.minutes * 60])
    windows = fault_windows(outcomes, soak.kills, args.grace, end)
    counts, problems = verdicts(outcomes, windows)
    warmup = args.warmup if args.warmup is not None else 0.2 * args.minutes * 60
    by_kind: dict[str, Counter] = defaultdict(Counter)
    for o in outcomes:
        by_kind[f"{o.channel}/{o.kind}"][o.status] += 1
    rss = rss_summary(soak.samples, warmup, soak.kills)
    slow = slow_recoveries(windows, args.max_recovery)
    grown = grown_groups(rss.get("table", {}), args.max_growth)
    passed = not problems and not slow and not grown
    return {
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "duration_s": round(end, 1),
        "requests": len(outcomes),
        "verdict": {"passed": passed, **{k: counts.get(k, 0) for k in (
            "ok", "transient_in_window", "transient_outside_window", "crossed", "lost", "unexpected")},
            "kills": len(windows), "recovered": sum(w["recovery_s"] is not None for w in windows),
            "slow_recoveries": slow, "rss_grown": grown,
            "server_restarts": restarts, "model_reloads": reloads},
        "statuses": {kind: dict(c) for kind, c in sorted(by_kind.items())},
        "kills": windows,
        "siblings": sibling_service(windows),
        "latency": latencies(outcomes),
        "rss_mib": rss,
        "problems": [o.__dict__ for o in problems[:50]],
        "timeline": [[round(o.start, 2), round(o.end, 2), o.channel, o.kind, o.status, o.verdict] for o in outcomes],
    }


def markdown(report: dict[str, Any]) -> str:
    """The human-readable summary."""
    v, rss, settings = report["verdict"], report["rss_mib"], report["settings"]
    lines = [f"# Soak: {report['duration_s']:.0f} s, {report['requests']} requests — "
             f"{'PASSED' if v['passed'] else 'FAILED'}", "",
             "| ok | transient in a fault window | transient outside | crossed | lost | unexpected | kills "
             "| recovered | reloads | server restarts |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
             f"| {v['ok']} | {v['transient_in_window']} | {v['transient_outside_window']} | {v['crossed']} | "
             f"{v['lost']} | {v['unexpected']} | {v['kills']} | {v['recovered']} | {v['model_reloads']} | "
             f"{v['server_restarts']} |", "",
             f"- recovery (the last failure of a request sent after a kill) within {settings['max_recovery']} s: "
             f"{v['kills'] - len(v['slow_recoveries'])} of {v['kills']} kills"
             + (f" (slower: t = {v['slow_recoveries']})" if v["slow_recoveries"] else ""),
             f"- kills of one of several instances: {report['siblings']['kills']}; while each healed, good images "
             f"answered {report['siblings']['served']}, failed {report['siblings']['failed']} (healing times "
             f"{report['siblings']['healing_s']} s)",
             f"- RSS growth after warm-up within {settings['max_growth']} %: "
             + (f"no ({', '.join(v['rss_grown'])})" if v["rss_grown"] else "yes, every process group"),
             "", "## Answers by channel/kind and status", ""]
    lines += [f"- {kind}: " + ", ".join(f"{s} × {n}" for s, n in sorted(c.items())) for kind, c in
              report["statuses"].items()]
    lines += ["", "## Kills", "", "Recovery: the last failure of a request sent after the kill; requests already in "
              "flight at the kill fail when they reach the dead stub (last such failure: its own column).", "",
              "| t (s) | model | instance (of) | first good answer after (s) | last failure after (s) | last in-flight "
              "failure after (s) | good answered / failed while healing | sent again: requests (last answered "
              "after, s) | failures in the window |",
              "|---:|---|---|---:|---:|---:|---:|---:|---|"]
    lines += [f"| {k['t']:.1f} | {k['model']} | {k['instance']} ({k.get('instances', 1)}) | {k['recovery_s']} | "
              f"{k['last_failure_s']} | {k['last_victim_s']} | "
              f"{k['served_while_healing']} / {k['failed_while_healing']} | "
              f"{k.get('retried', 0)} ({k.get('last_retried_answer_s')}) | "
              + (", ".join(f"{s} × {n}" for s, n in k["failures"].items()) or "none") + " |" for k in report["kills"]]
    lines += ["", f"## RSS (MiB) after warm-up (t ≥ {rss.get('warmup_s')} s)", "",
              f"RSS medians over t = {rss.get('warmup_s')}–{rss.get('warm_until_s')} s and t = "
              f"{rss.get('final_from_s')}–{rss.get('end_s')} s, and the peak. Growth (judged): the rise of private "
              f"memory (RssAnon) over one life of the process — the least-squares line through its {BIN_S:.0f} s "
              "floors (least samples) — in % of the life's median RSS, the largest over the lives judged (a killed stub's model is "
              f"reloaded: a new life, judged from {SETTLE_S:.0f} s after its start when {MIN_LIFE_S:.0f} s long).", "",
              "| process | RSS after warm-up | RSS at the end | RSS peak | private growth | lives judged |",
              "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {g} | {r['warm']} | {r['final']} | {r['peak']} | "
              + ("–" if r["growth_pct"] is None else f"{r['growth_pct']} %") + f" | {r.get('lives_judged', 0)} |"
              for g, r in rss.get("table", {}).items()]
    shm = rss.get("shm", {})
    if shm:
        lines += ["", "/dev/shm regions of the server (MiB; orphaned: held for stubs that are gone): after warm-up "
                  f"{shm['warm'].get('total')} ({shm['warm'].get('regions')} regions, {shm['warm'].get('orphaned')} "
                  f"orphaned) → end {shm['final'].get('total')} ({shm['final'].get('regions')} regions, "
                  f"{shm['final'].get('orphaned')} orphaned)"]
    lines += ["", "## Latency of good images", ""]
    lines += [f"- {c}: p50 {t['p50_s']} s, p95 {t['p95_s']} s ({t['answers']} answers)"
              for c, t in report["latency"].items()]
    if report["problems"]:
        lines += ["", "## Problems (first 50)", ""]
        lines += [f"- t={p['end']:.1f} {p['channel']} {p['case']}: {p['status']} {p['verdict']} {p['detail']}"
                  for p in report["problems"]]
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: Path) -> Path:
    """RSS per process group over time (kills marked), and answers per 10 s by verdict."""
    from triton_ocr.bench.plots import _pyplot

    plt = _pyplot()
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7), dpi=80, sharex=True)
    series = report["rss_mib"]["series"]
    for group in report["rss_mib"]["groups"]:
        top.plot([s["t"] for s in series], [s.get(group, 0.0) for s in series], label=group)
    for kill in report["kills"]:
        for axis in (top, bottom):
            axis.axvline(kill["t"], color="red", linewidth=0.8, linestyle=":")
    shm = report["rss_mib"].get("shm", {}).get("series", [])
    if shm:
        top.plot([s["t"] for s in shm], [s.get("orphaned", 0.0) for s in shm], "k--", label="/dev/shm orphaned")
    top.set_ylabel("RSS (MiB)")
    top.legend(fontsize=7, ncol=3)
    top.set_title("soak: RSS per process (red: stub kills)")
    buckets: dict[str, Counter] = defaultdict(Counter)
    for _, end, _, _, _, verdict in report["timeline"]:
        buckets[verdict][int(end // 10) * 10] += 1
    for verdict, counter in sorted(buckets.items()):
        xs = sorted(counter)
        bottom.plot(xs, [counter[x] / 10 for x in xs], marker=".", label=verdict)
    bottom.set_xlabel("seconds")
    bottom.set_ylabel("answers/s (10 s bins)")
    bottom.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def write_reports(report: dict[str, Any], out: Path) -> list[Path]:
    """``soak.json``, ``soak.md`` and, where matplotlib is installed (the loadtest extra), ``soak.png`` in ``out``;
    without it a warning says so and the run's verdict stands."""
    json_path, md_path = out / "soak.json", out / "soak.md"
    json_path.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    md_path.write_text(markdown(report), encoding="utf-8")
    try:
        return [json_path, md_path, plot(report, out / "soak.png")]
    except ModuleNotFoundError as exc:
        warnings.warn(f"no soak.png: {exc}", stacklevel=2)
        return [json_path, md_path]
