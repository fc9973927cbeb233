"""The whole product as a user runs it: `tradewire sim`, `tradewire feed` and `tradewire run` as separate
processes on free loopback ports; signals in, orders at the simulator through ccxt, fills in the database."""
from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except (OSError, ValueError, sqlite3.Error):
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture
def processes():
    started: list[subprocess.Popen] = []

    def start(*args: str, log: Path) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", "bot", *args], cwd=ROOT, stdout=log.open("w"),
                                stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_signals_become_orders_and_fills(tmp_path, processes):
    sim_port, feed_port, api_port = free_port(), free_port(), free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    processes("sim", "--port", str(sim_port), "--seed", "5", log=tmp_path / "sim.log")
    wait_for(lambda: get_json(f"{sim_url}/api/v3/time"), what="simulator")
    processes("feed", "--port", str(feed_port), "--rate", "4", "--sim", sim_url, "--bad-every", "4",
              log=tmp_path / "feed.log")
    config = tmp_path / "tradewire.yaml"
    config.write_text(f"""
state_dir: {tmp_path / 'state'}
api: {{listen: "127.0.0.1:{api_port}"}}
accounts:
  main: {{venue: sim, url: "{sim_url}", symbols: [BTC/USDT, ETH/USDT]}}
sources:
  - {{name: demo, kind: websocket, url: "ws://127.0.0.1:{feed_port}", format: native}}
strategies:
  - {{name: follow, handler: "strategies.follow:Follow", sources: [demo], account: main, params: {{notional: "100"}}}}
policy: {ROOT / 'config' / 'policy.yaml'}
""")
    daemon = processes("run", "-c", str(config), "--duration", "12", log=tmp_path / "daemon.log")
    db = tmp_path / "state" / "tradewire.db"

    def filled_orders():
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT count(*) FROM orders WHERE status = 'FILLED' AND leg = 'entry'").fetchone()[0] >= 3

    wait_for(filled_orders, timeout=25, what="three filled entries in the daemon's database")
    assert daemon.wait(30) == 0, (tmp_path / "daemon.log").read_text()[-3000:]

    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        signals = [dict(r) for r in conn.execute("SELECT * FROM signals")]
        orders = [dict(r) for r in conn.execute("SELECT * FROM orders")]
        fills = [dict(r) for r in conn.execute("SELECT * FROM fills")]
    venue = get_json(f"{sim_url}/_sim/state")["orders"]
    venue_ids = {o["clientOrderId"] for o in venue}

    accepted = [s for s in signals if s["status"] == "ACCEPTED"]
    assert accepted, signals
    for sig in accepted:
        # The venue client id is derived from the signal id, and the order reached the simulator via ccxt.
        entry = next(o for o in orders if o["signal_key"] == sig["key"] and o["leg"] == "entry")
        assert entry["client_id"].startswith(sig["signal_id"]) and entry["client_id"] in venue_ids
    assert {f["order_id"] for f in fills} & {o["id"] for o in orders if o["leg"] == "entry"}
    # The feed sent malformed frames; each was recorded as INVALID and the stream carried on past it.
    invalid = [s for s in signals if s["status"] == "INVALID"]
    assert invalid and all(s["code"] == "INVALID_SIGNAL" for s in invalid)
    last_invalid = max(s["received_at"] for s in invalid)
    assert any(s["received_at"] > last_invalid for s in accepted) or len(invalid) < len(accepted)
    log = (tmp_path / "daemon.log").read_text()
    for word in ("signal demo:", ": accept ", "order ", "fill "):    # signal → decision, order, fill
        assert word in log


def test_sigterm_stops_cleanly(tmp_path, processes):
    api_port = free_port()
    config = tmp_path / "tradewire.yaml"
    config.write_text(f"""
state_dir: {tmp_path / 'state'}
api: {{listen: "127.0.0.1:{api_port}"}}
policy: {ROOT / 'config' / 'policy.yaml'}
""")
    daemon = processes("run", "-c", str(config), log=tmp_path / "daemon.log")
    wait_for(lambda: get_json(f"http://127.0.0.1:{api_port}/readyz").get("ready"), what="readiness")
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(30) == 0
    assert "stopped" in (tmp_path / "daemon.log").read_text()


def test_bad_config_exits_2_naming_the_key(tmp_path):
    config = tmp_path / "tradewire.yaml"
    config.write_text("api: {listen: '127.0.0.1:1', bogus: 1}\n")
    result = subprocess.run([sys.executable, "-m", "bot", "run", "-c", str(config)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "api.bogus: unknown key" in result.stderr
