"""``python -m bench [--quick] [--only NAME,...] [--no-write]``: runs the scenarios, prints a table, writes
``bench/results/latest.json`` and ``docs/benchmarks.md``.

Quick mode (``make bench-quick``) keeps the whole run under a minute; the full run takes a few minutes.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

from bench import report
from bench.common import ROOT, SimProcess, machine_info, python, rss_mb
from bench.stack import DENIED, BenchStack
from bench import scenarios as sc

SYMBOLS = ["BTC/USDT", "ETH/USDT", DENIED]

PLANS = {
    "tiny": {"baseline": (30, 100), "rates": [(50, 1.0)], "throughput": 0.5, "rejected": 300, "protection": (2, 1),
             "api": ([50], 0.5), "startup_runs": 1, "growth": [(1, 0)], "growth_duration": 0.5},
    "quick": {"baseline": (300, 1500), "rates": [(100, 2.0), (1000, 1.0)], "throughput": 2.0,
              "rejected": 10_000, "protection": (20, 6), "api": ([100, 500], 2.0), "startup_runs": 1,
              "growth": [(1, 0), (10, 0), (2, 1000), (2, 100_000)], "growth_duration": 1.5},
    "full": {"baseline": (1000, 5000), "rates": [(10, 10.0), (100, 10.0), (1000, 5.0)], "throughput": 10.0,
             "rejected": 200_000, "protection": (100, 30), "api": ([100, 500], 10.0), "startup_runs": 3,
             "growth": [(1, 0), (10, 0), (100, 0), (2, 1000), (2, 100_000)], "growth_duration": 5.0},
}


async def main_async(args: argparse.Namespace) -> dict:
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    plan = dict(PLANS[mode])
    if args.rejected:
        plan["rejected"] = args.rejected
    only = set(args.only.split(",")) if args.only else None

    def want(name: str) -> bool:
        return only is None or name in only

    results: dict = {"mode": mode, "machine": machine_info(), "plan": plan}
    started = time.perf_counter()
    with SimProcess(SYMBOLS) as sim:
        if want("baseline") or want("latency") or want("throughput"):
            results["baseline"] = await sc.baseline(sim, *plan["baseline"])
            log(f"baseline: {results['baseline']['sequential']['round_trip']['p50']} ms sequential, "
                f"{results['baseline']['concurrent']['orders_per_s']} orders/s concurrent")
        rss_before_stack = rss_mb()
        async with BenchStack(sim.url, SYMBOLS) as stack:
            results["stack_start_s"] = round(stack.start_wall, 3)
            results["rss_mb"] = {"before_stack": rss_before_stack, "stack_ready": rss_mb()}
            if want("latency"):
                results["latency"] = {}
                for rate, duration in plan["rates"]:
                    await sim.clear_handler_times()
                    point = await sc.latency_at(stack, rate, duration)
                    point["sim_handler"] = sc.summary_ms((await sim.handler_times()).get("POST /api/v3/order", []))
                    results["latency"][str(rate)] = point
                    log(f"latency @{rate}/s: wire p50 {point['received_to_wire']['p50']} ms, "
                        f"p99 {point['received_to_wire']['p99']} ms")
            if want("throughput"):
                results["throughput"] = await sc.throughput(stack, plan["throughput"])
                log(f"throughput: {results['throughput']['orders_per_s']} orders/s")
            if want("protection"):
                results["protection"] = await sc.protection(stack, sim, *plan["protection"])
                log("protection done")
            if want("api"):
                results["api"] = await sc.api_orders(stack, *plan["api"])
                log("api done")
            if want("rejected"):
                results["rejected"] = await sc.rejected(stack, plan["rejected"])
                log(f"rejected: {results['rejected']['per_s']}/s, RSS {results['rejected']['rss_mb'][0][1]} → "
                    f"{results['rejected']['rss_mb'][-1][1]} MB")
            results["rss_mb"]["end"] = rss_mb()
        if want("startup"):
            results["startup"] = sc.startup_subprocess(sim.url, plan["startup_runs"])
            results["startup"].update(sc.import_cost())
            log(f"startup: {results['startup']['wall_to_readyz']['p50']} ms to /readyz")
    if want("growth"):
        results["growth"] = []
        for symbols, prefill in plan["growth"]:
            out = subprocess.run([python(), "-m", "bench.growth", "--symbols", str(symbols), "--prefill",
                                  str(prefill), "--duration", str(plan["growth_duration"])], cwd=ROOT,
                                 capture_output=True, text=True, timeout=300)
            try:
                point = json.loads(out.stdout.strip().splitlines()[-1])
            except (IndexError, ValueError):
                point = {"symbols": symbols, "orders_in_store": prefill, "error": out.stderr[-2000:]}
            results["growth"].append(point)
            log(f"growth {symbols} symbols / {prefill} orders: {point.get('received_to_wire', {}).get('p50')} ms")
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    results["targets"] = report.targets(results)
    return results


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="shorter durations, fewer rates (< 60 s)")
    parser.add_argument("--only", default="", help="comma-separated: baseline,latency,throughput,protection,api,"
                                                   "rejected,startup,growth")
    parser.add_argument("--tiny", action="store_true", help="a few seconds: the smoke test's plan")
    parser.add_argument("--rejected", type=int, default=0, help="rejected signals to push (RSS flatness)")
    parser.add_argument("--no-write", action="store_true", help="print only; do not write results or docs")
    parser.add_argument("--json", default=str(Path(ROOT) / "bench" / "results" / "latest.json"))
    parser.add_argument("--markdown", default=str(Path(ROOT) / "docs" / "benchmarks.md"))
    args = parser.parse_args(argv)
    results = asyncio.run(main_async(args))
    print(report.table(results))
    if not args.no_write:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        report.write_markdown(results, Path(args.markdown))
        log(f"wrote {args.json} and {args.markdown}")
    return 0
