"""``make chaos`` (``python -m bench.chaos``): kill -9 the daemon at random moments during signal bursts while
the exchange injects faults and drops websockets; then check the SPEC §11 invariants against the venue.

Processes (all on free loopback ports): ``tradewire sim`` and ``tradewire feed`` (long-lived: the venue's state
and the signal stream are continuous), and the daemon ``python -m bot run -c <tmp config>``, killed and
restarted. At the end: faults off, feed stopped, one more restart, wait for reconciliation, then:

- no duplicate venue orders (one venue order per clientOrderId);
- no venue order unknown to the daemon (every venue clientOrderId is in orders.client_id);
- every received signal has a terminal decision (signals.status != 'RECEIVED');
- positions equal the venue's (per symbol: positions.quantity == net executedQty of the venue's orders).

Then the fuzz properties run with a larger budget. Exit status 1 on any violation.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import yaml

from bench.common import ROOT, free_port, python

FAULT_KINDS = ("http_500", "http_503", "http_429", "timeout_after_accept")


def log(message: str) -> None:
    print(f"[chaos] {message}", file=sys.stderr, flush=True)


def http(method: str, url: str, body=None, timeout: float = 5.0):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, json.loads(response.read() or b"null")


def start_reading(cmd: list[str], prefix: str, log_file, timeout: float = 30.0) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=log_file, text=True)
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(prefix):
            return proc, line[len(prefix):].strip()
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError(f"{' '.join(cmd)} did not start")


def policy_text(rate_per_min: int) -> str:
    policy = yaml.safe_load((Path(ROOT) / "config" / "policy.yaml").read_text())
    policy["sources"] = {"demo": {"rate": {"max": rate_per_min, "per": "1m"}}}
    policy["defaults"]["position"] = {"max_notional": "1000000", "max_open_orders": 50}
    policy["accounts"]["main"]["max_gross_exposure"] = "10000000"
    policy["venues"] = {"default": {"breaker": {"consecutive_failures": 50, "failure_rate": 0.9, "window": "60s",
                                                "min_calls": 50, "cooldown": "2s"}}}
    return yaml.safe_dump(policy, sort_keys=False)


class Daemon:
    def __init__(self, config: Path, api_port: int, log_path: Path):
        self.config, self.api_port, self.log_path = config, api_port, log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen([python(), "-m", "bot", "run", "-c", str(self.config)], cwd=ROOT,
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60.0) -> float | None:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc is None or self.proc.poll() is not None:
                return None
            try:
                status, _ = http("GET", f"http://127.0.0.1:{self.api_port}/readyz", timeout=1)
                if status == 200:
                    return time.monotonic() - started
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        return None

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def check(db_path: Path, state: dict) -> dict:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    ours = {row["client_id"]: row for row in conn.execute("SELECT client_id, status, symbol FROM orders")}
    undecided = [row["key"] for row in conn.execute("SELECT key FROM signals WHERE status = 'RECEIVED'")]
    signal_counts = dict(conn.execute("SELECT status, COUNT(*) FROM signals GROUP BY status").fetchall())
    order_counts = dict(conn.execute("SELECT status, COUNT(*) FROM orders GROUP BY status").fetchall())
    positions = {row["symbol"]: Decimal(row["quantity"] or "0") for row in
                 conn.execute("SELECT symbol, quantity FROM positions WHERE account = 'main'")}
    conn.close()
    venue_orders = state["orders"]
    per_cid: dict[str, int] = {}
    net: dict[str, Decimal] = {}
    for order in venue_orders:
        per_cid[order["clientOrderId"]] = per_cid.get(order["clientOrderId"], 0) + 1
        sign = 1 if order["side"] == "BUY" else -1
        net[order["symbol"]] = net.get(order["symbol"], Decimal(0)) + sign * Decimal(order["executedQty"])
    duplicates = {cid: n for cid, n in per_cid.items() if n > 1}
    unknown = sorted(cid for cid in per_cid if cid not in ours)
    mismatched = {symbol: {"daemon": str(positions.get(symbol, Decimal(0))), "venue": str(net.get(symbol, 0))}
                  for symbol in set(net) | set(positions)
                  if positions.get(symbol, Decimal(0)) != net.get(symbol, Decimal(0))}
    return {"venue_orders": len(venue_orders), "venue_trades": len(state["trades"]), "daemon_orders": len(ours),
            "daemon_order_status": order_counts, "signals": signal_counts,
            "violations": {"duplicate_venue_orders": duplicates, "venue_orders_unknown_to_daemon": unknown[:20],
                           "unknown_count": len(unknown), "undecided_signals": undecided[:20],
                           "undecided_count": len(undecided), "position_mismatches": mismatched}}


def violation_count(result: dict) -> int:
    v = result["violations"]
    return len(v["duplicate_venue_orders"]) + v["unknown_count"] + v["undecided_count"] + len(v["position_mismatches"])


def run(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="twchaos-"))
    logs = open(tmp / "services.log", "w")
    sim_port, feed_port, api_port = free_port(), free_port(), free_port()
    sim, sim_url = start_reading([python(), "-m", "bot", "sim", "--port", str(sim_port), "--seed", str(args.seed)],
                                 "tradewire sim: ", logs)
    feed, feed_url = start_reading([python(), "-m", "bot", "feed", "--port", str(feed_port), "--rate",
                                    str(args.rate), "--sim", sim_url, "--seed", str(args.seed)],
                                   "tradewire feed: ", logs)
    log(f"sim {sim_url}, feed {feed_url} at {args.rate}/s, state in {tmp}")
    (tmp / "policy.yaml").write_text(policy_text(args.policy_rate))
    config = {
        "state_dir": str(tmp / "state"), "log_level": "INFO", "api": {"listen": f"127.0.0.1:{api_port}"},
        "accounts": {"main": {"venue": "sim", "url": sim_url, "options": {"timeout": 2000}}},
        "sources": [{"name": "demo", "kind": "websocket", "url": feed_url, "format": "native",
                     "heartbeat_interval": 2.0}],
        "strategies": [{"name": "follow", "handler": "strategies.follow:Follow", "sources": ["demo"],
                        "account": "main", "params": {"notional": "50"}}],
        "policy": str(tmp / "policy.yaml"),
        "execution": {"unknown_grace": 0.3, "reconcile_interval": 5},
    }
    (tmp / "tradewire.yaml").write_text(yaml.safe_dump(config))
    daemon = Daemon(tmp / "tradewire.yaml", api_port, tmp / "daemon.log")
    faults = [{"match": path, "fault": kind, "rate": args.fault_rate / len(FAULT_KINDS)}
              for path in ("POST /api/v3/order", "POST /api/v3/orderList/oco") for kind in FAULT_KINDS]
    http("POST", sim_url + "/_sim/faults", {"rules": faults})
    kills = drops = not_ready = 0
    ready_times: list[float] = []
    deadline = time.monotonic() + args.duration
    result: dict = {}
    try:
        while time.monotonic() < deadline and kills < args.max_kills:
            # The kill moment is drawn from the process start, so some kills land during start-up
            # reconciliation and re-protection, others during the replayed burst or steady trading.
            started = time.monotonic()
            daemon.start()
            alive = rng.uniform(args.min_alive, args.max_alive)
            until = started + alive
            ready = daemon.wait_ready(timeout=alive)
            if ready is None:
                not_ready += 1
                if daemon.proc is not None and daemon.proc.poll() is not None:
                    log(f"daemon exited with {daemon.proc.returncode}; see {tmp}/daemon.log")
            else:
                ready_times.append(ready)
            while time.monotonic() < until:
                time.sleep(min(0.5, max(0.0, until - time.monotonic())))
                if rng.random() < args.drop_chance:
                    http("POST", sim_url + "/_sim/ws/drop")
                    drops += 1
            daemon.kill9()
            kills += 1
            log(f"kill -9 #{kills} {alive:.1f}s after start ("
                f"{'before ready' if ready is None else f'ready in {ready:.2f} s'})")
        _, fault_state = http("GET", sim_url + "/_sim/faults")
        fired = {f"{r['match']} {r['fault']}": r["fired"] for r in fault_state["rules"]}
        http("DELETE", sim_url + "/_sim/faults")
        feed.terminate()
        feed.wait(10)
        log("faults off, feed stopped; final restart and reconciliation")
        daemon.start()
        ready = daemon.wait_ready()
        if ready is None:
            log("final daemon did not become ready")
        result = {}
        for attempt in range(40):
            time.sleep(1.0)
            _, before = http("GET", sim_url + "/_sim/state", timeout=30)
            result = check(tmp / "state" / "tradewire.db", before)
            _, after = http("GET", sim_url + "/_sim/state", timeout=30)
            settled = len(after["trades"]) == len(before["trades"]) and \
                result["daemon_order_status"].get("PENDING", 0) == 0
            if settled and violation_count(result) == 0:
                break
            if settled and attempt >= 10:
                break
        exit_code = daemon.stop()
        result.update({"kills": kills, "ws_drops": drops, "killed_before_ready": not_ready, "faults_fired": fired,
                       "faults_total": sum(fired.values()), "daemon_exit_on_sigterm": exit_code,
                       "ready_s": {"n": len(ready_times), "max": round(max(ready_times), 2) if ready_times else None,
                                   "mean": round(sum(ready_times) / len(ready_times), 2) if ready_times else None},
                       "state_dir": str(tmp)})
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.kill9()
        for proc in (feed, sim):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        logs.close()
    violations = violation_count(result) if "violations" in result else 1
    result["violation_count"] = violations
    print(json.dumps(result, indent=2))
    print(f"chaos: {kills} kills, {drops} websocket drops, {result.get('faults_total')} faults injected, "
          f"{result.get('venue_orders')} venue orders, {result.get('daemon_orders')} daemon orders, "
          f"signals {result.get('signals')}, violations {violations}")
    out = Path(ROOT) / "bench" / "results" / "chaos-latest.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if violations else 0


def fuzz(examples: int) -> int:
    log(f"fuzzing adapters and policy loader: {examples} examples per property")
    env = dict(os.environ, TRADEWIRE_FUZZ_EXAMPLES=str(examples))
    return subprocess.run([python(), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/bench/test_fuzz.py"],
                          cwd=ROOT, env=env).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos")
    parser.add_argument("--duration", type=float, default=150, help="seconds of kill/restart cycles (default 150)")
    parser.add_argument("--max-kills", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20, help="feed signals per second")
    parser.add_argument("--policy-rate", type=int, default=60, help="signals per minute the policy lets trade")
    parser.add_argument("--fault-rate", type=float, default=0.10, help="share of order requests that fail")
    parser.add_argument("--drop-chance", type=float, default=0.15, help="per 0.5 s: chance of a ws drop")
    parser.add_argument("--min-alive", type=float, default=1.0, help="seconds from start to kill, at least")
    parser.add_argument("--max-alive", type=float, default=8.0, help="seconds from start to kill, at most")
    parser.add_argument("--seed", type=int, default=int(time.time()) % 10_000)
    parser.add_argument("--fuzz-examples", type=int, default=5000, help="0 = skip the fuzz run")
    args = parser.parse_args(argv)
    log(f"seed {args.seed}")
    status = run(args)
    if args.fuzz_examples:
        status = max(status, 1 if fuzz(args.fuzz_examples) else 0)
    return status


if __name__ == "__main__":
    sys.exit(main())
