"""``tradewire policy check|explain|schema`` and ``tradewire replay``, through the parser they register."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import yaml

from bot.policy.cli import register

from .conftest import BASE, merge

ROOT = Path(__file__).resolve().parents[2]
POLICY = str(ROOT / "config" / "policy.yaml")
SIGNAL = {"id": "x1", "source": "demo", "symbol": "BTC/USDT", "action": "open", "side": "buy",
          "entry": {"type": "limit", "price": "67350"}, "stop_loss": "66100", "take_profit": ["68500", "69800"],
          "confidence": 0.78, "generated_at": "2026-11-21T12:00:00Z"}


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="tradewire")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_check_valid_and_invalid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("policy", "check", POLICY) == 0
    assert "valid" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nsymbols:\n  allow: ['*/USDT']\n  alow: ['x']\n")
    assert run("policy", "check", str(bad)) == 2
    assert f"{bad}:4: symbols.alow: unknown key" in capsys.readouterr().err


def test_schema_prints_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("policy", "schema") == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "Tradewire risk policy" and "defaults" in schema["properties"]


def test_explain_shows_every_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("policy", "explain", "-p", POLICY, "--signal", json.dumps(SIGNAL), "--json") == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["accepted"] and result["intent"]["side"] == "BUY"
    rules = {v["rule"] for v in result["verdicts"]}
    assert {"symbols.overrides.BTC/USDT.order.max_notional", "sources.demo.rate", "balance.USDT"} <= rules


def test_explain_with_state_and_a_rejecting_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"now": "2026-11-21T12:01:00Z", "balances": {"USDT": "50"},
                                 "quotes": {"BTC/USDT": {"bid": "67340", "ask": "67350"}}}))
    signal = tmp_path / "signal.json"
    signal.write_text(json.dumps(SIGNAL))
    assert run("policy", "explain", "-p", POLICY, "--signal", f"@{signal}", "--state", str(state)) == 0
    out = capsys.readouterr().out
    assert "REJECT SIGNAL_STALE" in out and "INSUFFICIENT_BALANCE" in out      # every failing rule is shown


def test_explain_refuses_a_bad_signal(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("policy", "explain", "-p", POLICY, "--signal", '{"id": "x"}') == 2
    assert "not a valid native signal" in capsys.readouterr().err


def test_replay_summarises_by_rule_and_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(merge(BASE, {"sources": {"tv": {"signal": {"min_confidence": 0}}}})))
    lines = []
    for n in range(6):
        lines.append(json.dumps({**SIGNAL, "id": f"d{n}", "symbol": "ETH/USDT", "entry": {"type": "market"},
                                 "stop_loss": "1900", "generated_at": f"2026-11-21T12:00:{n:02d}Z"}))
    lines.append(json.dumps({"type": "signal", "seq": 7, "signal": {**SIGNAL, "id": "t1", "source": "tv",
                                                                     "symbol": "LUNA/USDT", "confidence": None}}))
    lines.append("{not json")
    lines.append(lines[0])                                                        # a duplicate is skipped
    signals = tmp_path / "signals.jsonl"
    signals.write_text("\n".join(lines) + "\n")
    prices = tmp_path / "prices.csv"
    prices.write_text("ts,symbol,bid,ask\n2026-11-21T11:59:00Z,ETH/USDT,1999,2000\n")
    report_path = tmp_path / "report.json"
    assert run("replay", str(signals), "-p", str(policy), "--prices", str(prices), "--report", str(report_path),
               "--strategy", "strategies.confidence_sized:ConfidenceSized") == 0
    report = json.loads(report_path.read_text())
    assert report["accepted"] == 3                                              # the demo rate: 3 per minute
    assert report["by_rule"] == {"SOURCE_RATE_LIMIT sources.demo.rate": 3,
                                 "SYMBOL_DENIED symbols.deny": 1, "INVALID_SIGNAL": 1}
    assert report["by_source"]["demo"] == {"accepted": 3, "rejected": 3, "by_code": {"SOURCE_RATE_LIMIT": 3}}
    assert report["positions"] and "rejects by rule" in capsys.readouterr().out


def test_replay_reports_missing_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("replay", "/nonexistent.jsonl", "-p", POLICY) == 2
    assert "no such file" in capsys.readouterr().err
