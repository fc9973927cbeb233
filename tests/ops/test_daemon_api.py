"""The client commands (`tradewire status|orders|positions|breakers|halt|resume`) as an operator runs them,
against a real demo daemon; the kill switch end to end (SPEC §2, §7)."""
from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest

from .harness import base_config, client_env, free_port, require_api, run_client, wait_for

pytestmark = pytest.mark.slow


def _nonzero(positions: list[dict]) -> list[dict]:
    return [p for p in positions if Decimal(p["quantity"]) != 0]


def test_read_commands_against_the_daemon(demo_daemon, tmp_path):
    key = require_api(demo_daemon, "/v1/positions", "/v1/breakers", "/v1/orders")
    env = client_env(key)
    url = ["--url", demo_daemon.url]
    wait_for(lambda: json.loads(run_client("orders", *url, "--json", env=env).stdout)["orders"], 15,
             0.5, "orders at the daemon")

    # -c CONFIG: the daemon's own config file gives api.listen.
    result = run_client("status", "-c", str(demo_daemon.config_path), env=env)
    assert result.returncode == 0, result.stderr
    for heading in ("Tradewire", "Sources", "Breakers", "Positions", "Open orders", "Latency"):
        assert heading in result.stdout, (heading, result.stdout)
    assert "demo" in result.stdout

    status = json.loads(run_client("status", *url, "--json", env=env).stdout)
    assert status["ready"] is True or status.get("ready") in ("true", 1)
    assert {a.lower() for a in (status.get("trading") or {}).values()} <= {"active"}

    orders = run_client("orders", *url, "--limit", "5", env=env)
    assert orders.returncode == 0 and "BTC/USDT" in orders.stdout + orders.stderr or "ETH/USDT" in orders.stdout
    as_json = json.loads(run_client("orders", *url, "--json", "--limit", "3", env=env).stdout)
    assert 0 < len(as_json["orders"]) <= 3
    assert all({"id", "symbol", "status"} <= set(o) for o in as_json["orders"])

    positions = run_client("positions", *url, "--all", env=env)
    assert positions.returncode == 0 and "Positions" in positions.stdout
    assert "positions" in json.loads(run_client("positions", *url, "--json", env=env).stdout)

    breakers = run_client("breakers", *url, env=env)
    assert breakers.returncode == 0, breakers.stderr

    # Runtime failure: a wrong key is the API's 401, printed as code: message, exit 1.
    wrong = run_client("positions", *url, env=client_env("not-the-key-0123456789"))
    assert wrong.returncode == 1 and "UNAUTHENTICATED" in wrong.stderr, wrong.stderr
    # Usage error: no key at all, exit 2.
    assert run_client("positions", *url, env=client_env(None)).returncode == 2
    # Unreachable: exit 1.
    gone = run_client("status", "--url", f"http://127.0.0.1:{free_port()}", env=env)
    assert gone.returncode == 1 and "cannot reach" in gone.stderr


def test_halt_flatten_then_resume(tmp_path, spawn):
    daemon = spawn(base_config(tmp_path / "state", free_port(), rate=2.0))
    daemon.wait_ready()
    key = require_api(daemon, "/v1/positions", "/v1/signals")
    env = client_env(key)

    def positions() -> list[dict]:
        status, body = daemon.get("/v1/positions")
        assert status == 200, body
        return body["positions"]

    wait_for(lambda: _nonzero(positions()), 20, 0.1, "an open position")
    halted_at = time.time()
    result = run_client("halt", "--flatten", "--url", daemon.url, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "HALTED" in result.stdout.upper()

    # Every position flat within a few seconds, and no resting order left to reopen one.
    wait_for(lambda: not _nonzero(positions()), 5, 0.1, f"flat positions after halt --flatten: {positions()}")
    status, body = daemon.get("/v1/orders?status=open")
    assert status == 200 and body["orders"] == [], body
    time.sleep(1.0)
    assert not _nonzero(positions()), positions()

    # New signals are rejected with TRADING_HALTED while halted.
    def halted_signals() -> list[dict]:
        status, body = daemon.get("/v1/signals?source=demo")
        assert status == 200, body
        return [s for s in body["signals"] if (s.get("received_at") or 0) > halted_at + 0.5]
    later = wait_for(lambda: len(halted_signals()) >= 2 and halted_signals(), 8, 0.2, "signals after the halt")
    assert all(s["status"] == "REJECTED" and s["code"] == "TRADING_HALTED" for s in later), later
    status_json = json.loads(run_client("status", "--url", daemon.url, "--json", env=env).stdout)
    assert "HALTED" in json.dumps(status_json.get("trading")).upper()

    resumed_at = time.time()
    result = run_client("resume", "--url", daemon.url, env=env)
    assert result.returncode == 0, result.stdout + result.stderr

    def accepted_after_resume() -> list[dict]:
        status, body = daemon.get("/v1/signals?source=demo")
        return [s for s in body["signals"] if (s.get("received_at") or 0) > resumed_at + 0.2
                and s["status"] == "ACCEPTED"]
    wait_for(accepted_after_resume, 8, 0.2, "an accepted signal after resume")


def test_kill_switch_shows_in_metrics(tmp_path, spawn):
    """SPEC §10: trading state per account and flattens are metrics (alerts: `tradewire_trading_state == 2`,
    `increase(tradewire_flattens_total[5m]) > 0`)."""
    from .harness import http, metric_samples, sample

    daemon = spawn(base_config(tmp_path / "state", free_port(), rate=2.0))
    daemon.wait_ready()
    key = require_api(daemon, "/v1/positions")
    wait_for(lambda: _nonzero(daemon.get("/v1/positions")[1]["positions"]), 20, 0.1, "an open position")
    status, body = daemon.post("/v1/halt", {"flatten": True}, key=key)
    assert status in (200, 202), body
    wait_for(lambda: not _nonzero(daemon.get("/v1/positions")[1]["positions"]), 5, 0.1, "flat positions")
    samples = metric_samples(http("GET", daemon.url + "/metrics")[1])
    problems = []
    if sample(samples, "tradewire_trading_state", account="main") != 2:
        labels = {lbl.get("account"): v for lbl, v in samples.get("tradewire_trading_state", [])}
        problems.append(f"tradewire_trading_state{{account=main}} is not 2 (halted) after POST /v1/halt: {labels} "
                        "(halting every account emits trading_state.changed with account '*', which "
                        "bot/daemon.py _on_policy_event turns into a '*' series instead of one per account)")
    if sample(samples, "tradewire_flattens_total", account="main", reason="halt") == 0:
        problems.append("tradewire_flattens_total{account=main,reason=halt} has no count after halt --flatten "
                        "closed positions (nothing increments metrics.flattens)")
    status, body = daemon.post("/v1/resume", {}, key=key)
    assert status == 200, body
    assert not problems, "; ".join(problems)


def test_protective_legs_match_positions(demo_daemon):
    """SPEC §9: every position is protected, and nothing else is: the stop-loss legs resting for a symbol close
    at most the position (a leg on the wrong side, or one left over from a position already closed, would open
    a new, unprotected position when it triggers)."""
    key = require_api(demo_daemon, "/v1/positions")
    wait_for(lambda: len(demo_daemon.get("/v1/signals?source=demo&status=ACCEPTED", key=key)[1]["signals"]) >= 6,
             20, 0.25, "six accepted signals")
    # Stop new signals (legs and flattens still go out), then the legs must settle onto the positions.
    status, body = demo_daemon.post("/v1/halt", {"flatten": False}, key=key)
    assert status in (200, 202), body

    def problems() -> list[str]:
        found = []
        for position in demo_daemon.get("/v1/positions", key=key)[1]["positions"]:
            qty = Decimal(position["quantity"])
            legs = [o for o in position.get("protection", []) if o.get("leg") in ("sl", "stop_loss", "STOP_LOSS")]
            closing = "SELL" if qty > 0 else "BUY"
            wrong = [o for o in legs if qty == 0 or o["side"].upper() != closing]
            total = sum((Decimal(o["quantity"]) - Decimal(o.get("filled_quantity") or 0) for o in legs), Decimal(0))
            if wrong or total > abs(qty):
                found.append(f"{position['symbol']}: position {qty}, {len(legs)} live stop-loss legs for "
                             f"{total} ({len(wrong)} on the wrong side)")
        return found

    try:
        wait_for(lambda: not problems(), 15, 0.25, "legs within positions")
    except AssertionError:
        raise AssertionError("protective legs outlive the positions they protect: " + "; ".join(problems()))
