"""The benchmark scenarios. Each returns a plain dict (seconds converted to ms by ``summary_ms``)."""
from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import tempfile
import time
from array import array
import uuid
from pathlib import Path


from bench.common import ROOT, SimProcess, WireTracer, python, rss_mb, summary_ms
from bench.stack import DENIED, BenchStack, frame, signal


# -- baseline: raw ccxt against the same simulator ----------------------------------------------

async def baseline(sim: SimProcess, sequential: int, concurrent: int, inflight: int = 20) -> dict:
    import ccxt.async_support as ccxt_async

    from bot.venues.local import local_overrides

    local = local_overrides(ccxt_async.binance, sim.url)
    options = {"adjustForTimeDifference": True, **local["options"]}
    exchange = ccxt_async.binance({"enableRateLimit": False, "apiKey": "sim-key", "secret": "sim-secret",
                                   "urls": local["urls"], "options": options})
    tracer = WireTracer()
    tracer.attach(exchange)
    try:
        await exchange.load_markets()
        for i in range(20):  # warm-up: connection, caches
            await exchange.create_order("BTC/USDT", "market", "buy" if i % 2 else "sell", 0.001, None,
                                        {"clientOrderId": f"warm{uuid.uuid4().hex[:8]}"})
        await sim.clear_handler_times()
        run = uuid.uuid4().hex[:6]
        seq_times, cpu0 = [], time.process_time()
        for i in range(sequential):
            started = time.perf_counter()
            await exchange.create_order("BTC/USDT", "market", "buy" if i % 2 else "sell", 0.001, None,
                                        {"clientOrderId": f"s{run}{i}"})
            seq_times.append(time.perf_counter() - started)
        cpu_per_order = (time.process_time() - cpu0) / sequential
        records = [tracer.records.get(f"s{run}{i}") for i in range(sequential)]
        wire_rt = [r.end - r.wire for r in records if r and r.end and r.wire]
        to_wire = [r.wire - r.fetch for r in records if r and r.wire and r.fetch]
        seq_handler = (await sim.handler_times()).get("POST /api/v3/order", [])

        sem = asyncio.Semaphore(inflight)
        conc_times: list[float] = []

        async def one(i: int) -> None:
            async with sem:
                started = time.perf_counter()
                await exchange.create_order("ETH/USDT", "market", "buy" if i % 2 else "sell", 0.01, None,
                                            {"clientOrderId": f"c{run}{i}"})
                conc_times.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(concurrent)))
        elapsed = time.perf_counter() - started
        conc_handler = (await sim.handler_times()).get("POST /api/v3/order", [])
    finally:
        await exchange.close()
    return {
        "sequential": {"round_trip": summary_ms(seq_times), "orders_per_s": round(sequential / sum(seq_times), 1),
                       "wire_round_trip": summary_ms(wire_rt), "fetch_to_wire": summary_ms(to_wire),
                       "client_cpu_ms_per_order": round(cpu_per_order * 1000, 3),
                       "sim_handler": summary_ms(seq_handler)},
        "concurrent": {"in_flight": inflight, "orders": concurrent, "round_trip": summary_ms(conc_times),
                       "orders_per_s": round(concurrent / elapsed, 1), "sim_handler": summary_ms(conc_handler)},
    }


# -- 1 & 2: latency at a signal rate -------------------------------------------------------------

async def latency_at(stack: BenchStack, rate: float, duration: float) -> dict:
    run = uuid.uuid4().hex[:6]
    n = max(1, int(rate * duration))
    stack.pipeline.latencies.clear()
    symbols = [s for s in stack.symbols if s != DENIED]
    prices = stack.prices()
    rows = []
    t0 = time.perf_counter() + 0.02
    for i in range(n):
        target = t0 + i / rate
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        stack.seq += 1
        received, result = await stack.feed(frame(stack.seq, signal(i, symbols[i % len(symbols)], run=run,
                                                                       every=len(symbols),
                                                                       price=prices[symbols[i % len(symbols)]])))
        rows.append((target, received, result))
    last = time.perf_counter()
    await stack.wait_idle()
    handed = list(stack.pipeline.latencies)
    to_fetch, to_wire, to_ack, venue_rt, late, statuses = [], [], [], [], [], {}
    for target, received, result in rows:
        statuses[result.status] = statuses.get(result.status, 0) + 1
        late.append(max(0.0, received - target))
        for cid in result.orders:
            rec = stack.tracer.records.get(cid)
            if rec and rec.fetch:
                to_fetch.append(rec.fetch - received)
            if rec and rec.wire:
                to_wire.append(rec.wire - received)
            if rec and rec.wire and rec.end:
                venue_rt.append(rec.end - rec.wire)
            if cid in stack.obs.ack:
                to_ack.append(stack.obs.ack[cid] - received)
    return {"rate": rate, "signals": n, "achieved_rate": round(n / max(1e-9, last - t0), 1), "statuses": statuses,
            "received_to_handed": summary_ms(handed), "received_to_ccxt_fetch": summary_ms(to_fetch),
            "received_to_wire": summary_ms(to_wire), "wire_round_trip": summary_ms(venue_rt),
            "received_to_ack": summary_ms(to_ack), "behind_schedule": summary_ms(late)}


# -- 3: sustained accepted orders/s; rejected signals/s --------------------------------------------

async def throughput(stack: BenchStack, duration: float, inflight: int = 20) -> dict:
    run = uuid.uuid4().hex[:6]
    symbols = [s for s in stack.symbols if s != DENIED]
    prices = stack.prices()
    i = 0
    started = time.perf_counter()
    end = started + duration
    cids: list[str] = []
    while time.perf_counter() < end:
        while stack.in_flight() >= inflight:
            await asyncio.wait(set(stack.execution._sends), return_when=asyncio.FIRST_COMPLETED)
        stack.seq += 1
        symbol = symbols[i % len(symbols)]
        _, result = await stack.feed(frame(stack.seq, signal(i, symbol, run=run, every=len(symbols),
                                                             price=prices[symbol])))
        cids += result.orders
        i += 1
    window_end = time.perf_counter()
    acked = sum(1 for cid in cids if stack.obs.ack.get(cid, float("inf")) <= window_end)
    await stack.wait_idle()
    return {"in_flight": inflight, "duration_s": round(window_end - started, 2), "signals": i,
            "orders_acked": acked, "orders_per_s": round(acked / (window_end - started), 1)}


async def rejected(stack: BenchStack, count: int, samples: int = 10) -> dict:
    run = uuid.uuid4().hex[:6]
    rss = [(0, rss_mb())]
    codes: dict[str, int] = {}
    every = max(1, count // samples)
    started = time.perf_counter()
    loop_lat = array("d")          # 8 bytes a sample: the bench's own memory must not look like a leak
    for i in range(count):
        stack.seq += 1
        received, result = await stack.feed(frame(stack.seq, signal(i, DENIED, run=run)))
        loop_lat.append(time.perf_counter() - received)
        if i < 50:
            codes[result.code or result.status] = codes.get(result.code or result.status, 0) + 1
        if (i + 1) % every == 0:
            rss.append((i + 1, rss_mb()))
            await asyncio.sleep(0)
    elapsed = time.perf_counter() - started
    return {"signals": count, "elapsed_s": round(elapsed, 2), "per_s": round(count / elapsed, 1),
            "codes_first_50": codes, "decision_time": summary_ms(loop_lat), "rss_mb": rss,
            "rss_growth_mb": round(rss[-1][1] - rss[0][1], 1),
            "rss_growth_second_half_mb": round(rss[-1][1] - rss[len(rss) // 2][1], 1)}


# -- 5: protection ----------------------------------------------------------------------------------

async def protection(stack: BenchStack, sim: SimProcess, signals: int, failures: int, rate: float = 20) -> dict:
    prices = stack.prices()
    symbols = [s for s in stack.symbols if s != DENIED]
    stack.execution.protection.timings.clear()

    async def drive(count: int, run: str) -> list[str]:
        entries = []
        for i in range(count):
            symbol = symbols[i % len(symbols)]
            stack.seq += 1
            _, result = await stack.feed(frame(stack.seq, signal(i, symbol, protect=True, price=prices[symbol],
                                                                 run=run, every=len(symbols))))
            entries += result.orders
            await asyncio.sleep(1 / rate)
        await stack.wait_idle()
        await asyncio.sleep(0.2)
        await stack.wait_idle()
        return entries

    entries = await drive(signals, uuid.uuid4().hex[:6])
    legs_sent = []
    for entry in entries:
        fill = stack.obs.fill.get(entry)
        legs = [c for c, p in stack.obs.parent.items() if p == entry and stack.obs.leg_kind.get(c) != "flat"]
        wires = [stack.tracer.records[c].wire for c in legs if c in stack.tracer.records and
                 stack.tracer.records[c].wire]
        if fill and wires:
            legs_sent.append(min(wires) - fill)
    fill_to_legs = [s for kind, s in stack.execution.protection.timings if kind == "fill_to_legs"]

    # Every leg placement fails (the venue rejects OCO and stop orders) → after leg_retries, flatten.
    await sim.control("POST", "/_sim/faults", {"rules": [
        {"match": "POST /api/v3/orderList/oco", "fault": "reject", "rate": 1.0},
        {"match": "POST /api/v3/order", "fault": "reject", "rate": 1.0, "order_type": "STOP_LOSS_LIMIT"}]})
    stack.execution.protection.timings.clear()
    try:
        failed_entries = await drive(failures, uuid.uuid4().hex[:6])
    finally:
        await sim.control("DELETE", "/_sim/faults")
    flatten_sent = []
    for entry in failed_entries:
        mine = [c for c, p in stack.obs.parent.items() if p == entry]
        flat = [c for c in mine if stack.obs.leg_kind.get(c) == "flat"]
        legs = [stack.tracer.records[c] for c in mine if c not in flat and c in stack.tracer.records]
        last_fail = max((r.end for r in legs if r.end), default=None)
        if flat and last_fail and flat[0] in stack.tracer.records and stack.tracer.records[flat[0]].wire:
            flatten_sent.append(stack.tracer.records[flat[0]].wire - last_fail)
    to_flatten = [s for kind, s in stack.execution.protection.timings if kind == "leg_failure_to_flatten"]
    return {"entries": len(entries), "fill_to_legs_on_wire": summary_ms(legs_sent),
            "fill_to_legs_acknowledged": summary_ms(fill_to_legs),
            "failing_entries": len(failed_entries), "leg_failure_response_to_flatten_on_wire": summary_ms(flatten_sent),
            "leg_failure_to_flatten_handed": summary_ms(to_flatten)}


# -- 4: the order API ---------------------------------------------------------------------------------

async def api_orders(stack: BenchStack, rates: list[float], duration: float) -> dict:
    from bot.api.server import api_of

    app = stack.daemon.api_runner.app
    api = api_of(app)
    try:
        _, key = api.keys.create(f"bench-{uuid.uuid4().hex[:6]}", frozenset({"read", "trade"}),
                                 rate_limit=1_000_000_000)
    except TypeError:
        _, key = api.keys.create(f"bench-{uuid.uuid4().hex[:6]}", frozenset({"read", "trade"}))
    out = {}
    for rate in rates:
        timings = stack.api_timings
        timings.clear()
        prefix = f"r{int(rate)}{uuid.uuid4().hex[:4]}"
        proc = await asyncio.create_subprocess_exec(
            python(), "-m", "bench.apiload", stack.daemon.api_url, key, "--rate", str(rate), "--duration",
            str(duration), "--prefix", prefix, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL)
        stdout, _ = await asyncio.wait_for(proc.communicate(), timeout=duration + 60)
        data = json.loads(stdout.decode().strip().splitlines()[-1])
        await stack.wait_idle()
        server, own, venue = [], [], []
        for path, status, seconds, order_id in timings:
            if path != "/v1/orders":
                continue
            server.append(seconds)
            rec = stack.tracer.records.get(order_id or "")
            if status == 201 and rec and rec.wire and rec.end:
                venue.append(rec.end - rec.wire)
                own.append(seconds - (rec.end - rec.wire))
        out[str(int(rate))] = {"rate": rate, "sent": data["sent"], "statuses": data["statuses"],
                               "client_total": summary_ms(data["latencies"]), "server_handler": summary_ms(server),
                               "tradewire_own_201": summary_ms(own), "venue_round_trip_201": summary_ms(venue)}
    return out


# -- 6: start-up and memory --------------------------------------------------------------------------

def startup_subprocess(sim_url: str, runs: int) -> dict:
    """Wall clock of ``python -m bot run`` until /readyz answers 200, with the daemon's own figure and RSS."""
    from bench.stack import settings_for  # noqa: F401  (same policy as the in-process stack)
    import yaml
    import urllib.request

    from bench.common import free_port
    from bench.stack import policy_yaml

    walls, reported, rss = [], [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="twstart-") as tmp:
            port = free_port()
            (Path(tmp) / "policy.yaml").write_text(policy_yaml())
            config = {
                "state_dir": tmp, "log_level": "INFO", "api": {"listen": f"127.0.0.1:{port}"},
                "accounts": {"main": {"venue": "sim", "url": sim_url, "symbols": ["BTC/USDT", "ETH/USDT"]}},
                "sources": [{"name": "bench", "kind": "webhook", "format": "native"}],
                "strategies": [{"name": "follow", "handler": "strategies.follow:Follow", "sources": ["bench"],
                                "account": "main"}],
                "policy": str(Path(tmp) / "policy.yaml"),
            }
            (Path(tmp) / "tw.yaml").write_text(yaml.safe_dump(config))
            log = open(Path(tmp) / "out.log", "w")
            started = time.perf_counter()
            proc = subprocess.Popen([python(), "-m", "bot", "run", "-c", str(Path(tmp) / "tw.yaml")], cwd=ROOT,
                                    stdout=log, stderr=subprocess.STDOUT)
            wall = None
            try:
                deadline = started + 30
                while time.perf_counter() < deadline and proc.poll() is None:
                    try:
                        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                            if r.status == 200:
                                wall = time.perf_counter() - started
                                break
                    except OSError:
                        pass
                    time.sleep(0.01)
                if wall is not None:
                    rss.append(rss_mb(proc.pid))
            finally:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                log.close()
            text = (Path(tmp) / "out.log").read_text()
            for line in text.splitlines():
                if "ready in" in line:
                    try:
                        reported.append(float(line.split("ready in", 1)[1].split("s")[0].strip()))
                    except ValueError:
                        pass
                    break
            if wall is not None:
                walls.append(wall)
    return {"runs": runs, "wall_to_readyz": summary_ms(walls), "daemon_startup_seconds_ms": summary_ms(reported),
            "rss_at_ready_mb": rss}


def import_cost() -> dict:
    code = ("import time,resource;t=time.perf_counter();import bot.daemon;"
            "print(time.perf_counter()-t, open('/proc/self/status').read().split('VmRSS:')[1].split()[0])")
    out = subprocess.run([python(), "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60).stdout.split()
    return {"import_bot_daemon_s": round(float(out[0]), 3), "rss_after_import_mb": round(int(out[1]) / 1024, 1)}


# -- 7: growth -------------------------------------------------------------------------------------

def prefill_orders(db_path: Path, count: int) -> None:
    """Inserts ``count`` terminal (FILLED) orders with one event each, as a long-running daemon accumulates."""
    from bot.store import Store

    Store(db_path).close()          # creates the schema
    conn = sqlite3.connect(str(db_path))
    now = time.time()
    rows = []
    for i in range(count):
        cid = f"old{i:08d}"
        rows.append((cid, "main", "BTC/USDT", "BUY", "MARKET", "0.001", cid, "FILLED", None, None, "GTC", str(i),
                     "0.001", "67000", "entry", None, "signal", "bench", f"old-{i}", None, None, f"bench:old-{i}",
                     None, "", 0, None, now - 86400, now - 86400, None, 0))
    conn.executemany("INSERT INTO orders (id, account, symbol, side, order_type, quantity, client_id, status, price,"
                     " stop_price, time_in_force, venue_order_id, filled, average_price, leg, parent_id, origin_kind,"
                     " origin_source, origin_ref, origin_ip, correlation_id, signal_key, stop_loss, take_profit,"
                     " reduce_only, error, created_at, updated_at, request_hash, lost_checks)"
                     " VALUES (" + ",".join("?" * 30) + ")", rows)
    conn.executemany("INSERT INTO order_events (order_id, ts, kind, from_status, to_status, detail)"
                     " VALUES (?, ?, 'filled', 'OPEN', 'FILLED', '{}')", [(r[0], now - 86400) for r in rows])
    conn.executemany("INSERT INTO signals (key, source, signal_id, received_at, payload, status, decided_at)"
                     " VALUES (?, 'bench', ?, ?, '{}', 'ACCEPTED', ?)",
                     [(f"bench:old-{i}", f"old-{i}", now - 86400, now - 86400) for i in range(count)])
    conn.commit()
    conn.close()


async def growth_point(symbols: list[str], *, prefill: int = 0, rate: float = 100, duration: float = 2) -> dict:
    with SimProcess(symbols + [DENIED]) as sim:
        with tempfile.TemporaryDirectory(prefix="twgrow-") as tmp:
            if prefill:
                prefill_orders(Path(tmp) / "tradewire.db", prefill)
            rss0 = rss_mb()
            async with BenchStack(sim.url, symbols + [DENIED], state_dir=Path(tmp)) as stack:
                rss_ready = rss_mb()
                result = await latency_at(stack, rate, duration)
                return {"symbols": len(symbols), "orders_in_store": prefill, "startup_s": round(stack.start_wall, 3),
                        "received_to_wire": result["received_to_wire"], "received_to_handed":
                        result["received_to_handed"], "rss_before_mb": rss0, "rss_ready_mb": rss_ready,
                        "rss_after_mb": rss_mb()}
