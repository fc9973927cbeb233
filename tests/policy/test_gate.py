"""RiskGate: reservations, races, rates, trading states, reload, persistence."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from bot.model import Leg, OrderType, Side
from bot.policy import PolicyError, RiskGate

from .conftest import BASE, D, Rig, intent, make_rig, merge, signal


def test_accepted_orders_reserve_exposure_until_released(rig: Rig) -> None:
    big = intent(quantity=D("9"))                                        # 900 of a 5000 position limit
    keys = [f"o{i}" for i in range(6)]
    codes = [rig.gate.evaluate(big, key=key).code for key in keys]
    assert codes == [None] * 4 + ["OPEN_ORDERS_LIMIT"] * 2               # 4 resting orders at most
    rig.gate.release("o0")
    assert rig.gate.evaluate(big, key="o6").accepted
    rig.gate.update_reservation("o1", D("0"))                            # filled completely: released
    assert "o1" not in rig.gate.reservations()


def test_fills_move_exposure_from_reservation_to_position(rig: Rig) -> None:
    rig.gate.evaluate(intent(quantity=D("9")), key="a")
    rig.accounts.positions["ETH/USDT"] = D("4")                           # 4 of 9 filled
    rig.gate.update_reservation("a", D("5"))
    snap = rig.gate.snapshot(intent())
    assert (snap.position_qty, snap.pending_buy, snap.reserved_spend) == (D("4"), D("5"), D("500"))


def test_re_evaluating_a_key_replaces_its_reservation(rig: Rig) -> None:
    for _ in range(3):
        rig.gate.evaluate(intent(quantity=D("9")), key="same")
    assert len(rig.gate.reservations()) == 1


async def test_two_signals_racing_for_the_last_unit_exactly_one_wins(rig: Rig) -> None:
    rig.accounts.positions["ETH/USDT"] = D("41")                          # 4100 of 5000: room for one 900
    start = asyncio.Event()

    async def contender(name: str) -> bool:
        await start.wait()
        return rig.gate.evaluate(intent(quantity=D("9")), signal(id=name), key=name).accepted

    tasks = [asyncio.create_task(contender(name)) for name in ("a", "b")]
    await asyncio.sleep(0)
    start.set()
    assert sorted(await asyncio.gather(*tasks)) == [False, True]


def test_source_rate_counts_signals_not_intents(rig: Rig) -> None:
    for n in range(3):
        for leg in range(2):                                              # a ladder: two intents per signal
            assert rig.gate.evaluate(intent(tag=str(leg)), signal(id=f"s{n}"), key=f"{n}-{leg}").accepted
            rig.gate.release(f"{n}-{leg}")                                  # filled at once
    assert rig.gate.evaluate(intent(), signal(id="s3"), key="x").code == "SOURCE_RATE_LIMIT"
    rig.clock.advance(61)
    fresh = signal(id="s3", generated_at=datetime.fromtimestamp(rig.clock() - 1, timezone.utc))
    assert rig.gate.evaluate(intent(), fresh, key="x").accepted


def test_gross_exposure_counts_positions_at_their_marks(rig: Rig) -> None:
    rig.market.prices["BTC/USDT"] = ("49990", "50010")
    rig.accounts.positions["BTC/USDT"] = D("0.39")                         # 19,500 at the mid
    rig.gate.snapshot(intent(symbol="BTC/USDT"))                          # the gate learns the symbol
    decision = rig.gate.evaluate(intent(quantity=D("6")), key="k")
    assert (decision.code, decision.rule) == ("POSITION_LIMIT", "accounts.main.max_gross_exposure")
    rig.market.prices["BTC/USDT"] = None                                  # a position it cannot value
    assert rig.gate.evaluate(intent(quantity=D("1")), key="k").code == "NO_MARKET_DATA"


def test_missing_balance_and_missing_quote_reject(rig: Rig) -> None:
    rig.accounts.balances["USDT"] = None
    assert rig.gate.evaluate(intent(), key="a").code == "INSUFFICIENT_BALANCE"
    rig.accounts.balances["USDT"] = D("1000")
    rig.market.default = None
    assert rig.gate.evaluate(intent(order_type=OrderType.MARKET, price=None), key="b").code == "NO_MARKET_DATA"


def test_observe_mode_reserves_would_be_rejects_because_they_are_sent() -> None:
    rig = make_rig({"mode": "observe"})
    decision = rig.gate.evaluate(intent(quantity=D("20")), key="k")
    assert decision.code == "NOTIONAL_TOO_LARGE" and not decision.blocks
    assert "k" in rig.gate.reservations()


# --- trading states -----------------------------------------------------------------------------------------

def test_daily_loss_moves_to_reduce_only_and_the_daily_reset_lifts_it(rig: Rig) -> None:
    rig.accounts.positions["ETH/USDT"] = D("2")
    rig.gate.record_realized_pnl("main", D("-300"))
    assert rig.gate.trading_state("main") == "ACTIVE"
    rig.gate.record_realized_pnl("main", D("-250"))
    assert rig.gate.trading_state("main") == "REDUCE_ONLY"
    assert rig.events[-1] == ("trading_state.changed", {
        "account": "main", "state": "REDUCE_ONLY", "previous": "ACTIVE", "since": rig.clock(),
        "reason": "accounts.main.daily_loss_limit: lost 550 today (limit 500)"})
    assert rig.gate.evaluate(intent(), key="e").code == "REDUCE_ONLY"
    exit_ = intent(side=Side.SELL, order_type=OrderType.MARKET, price=None, quantity=D("2"), reduce_only=True)
    assert rig.gate.evaluate(exit_, key="x").accepted
    rig.clock.advance(86_400)
    assert rig.gate.trading_state("main") == "ACTIVE"
    assert rig.gate.evaluate(intent(), key="e").accepted


def test_drawdown_halts_when_on_limit_is_halt_and_stays_until_resume() -> None:
    rig = make_rig({"accounts": {"main": {"on_limit": "halt"}}})
    rig.gate.record_realized_pnl("main", D("100"), equity=D("10000"))
    rig.gate.record_realized_pnl("main", D("50"), equity=D("8900"))       # 11 % below the peak
    assert rig.gate.trading_state("main") == "HALTED"
    rig.clock.advance(86_400)
    assert rig.gate.trading_state("main") == "HALTED"                     # a drawdown is not a daily matter
    rig.gate.resume("main")
    assert rig.gate.trading_state("main") == "ACTIVE"
    rig.gate.record_realized_pnl("main", D("0"), equity=D("8900"))       # the new high-water mark
    assert rig.gate.trading_state("main") == "ACTIVE"


def test_halt_all_lets_only_protective_legs_and_flatten_through(rig: Rig) -> None:
    rig.accounts.positions["ETH/USDT"] = D("2")
    rig.gate.halt()
    assert rig.gate.trading_state("main") == "HALTED"
    close = intent(side=Side.SELL, order_type=OrderType.MARKET, price=None, quantity=D("2"), reduce_only=True)
    assert rig.gate.evaluate(close, key="c").code == "TRADING_HALTED"
    assert rig.gate.evaluate(close.with_(leg=Leg.FLATTEN), key="f").accepted
    rig.gate.resume()
    assert rig.gate.trading_state("main") == "ACTIVE"
    assert [e[1]["state"] for e in rig.events if e[0] == "trading_state.changed"] == ["HALTED", "ACTIVE"]


# --- reload and persistence -----------------------------------------------------------------------------------

def test_reload_keeps_the_old_policy_when_the_new_file_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(BASE))
    rig = make_rig(loaded=None)
    rig.gate.reload(path)
    old = rig.gate.loaded
    path.write_text(yaml.safe_dump(merge(BASE, {"defaults": {"order": {"max_notionl": "1"}}})))
    with pytest.raises(PolicyError, match="max_notionl"):
        rig.gate.reload()
    assert rig.gate.loaded is old
    path.write_text(yaml.safe_dump(merge(BASE, {"defaults": {"order": {"max_notional": "50"}}})))
    assert rig.gate.reload().hash != old.hash
    decision = rig.gate.evaluate(intent(), key="k")
    assert (decision.code, decision.policy_hash) == ("NOTIONAL_TOO_LARGE", rig.gate.loaded.hash)


def test_state_survives_a_restart_through_export_and_import(rig: Rig) -> None:
    for _ in range(3):
        rig.gate.record_venue_result("main", ok=False)
    rig.gate.record_realized_pnl("main", D("-600"))
    rig.accounts.positions["ETH/USDT"] = D("5")
    rig.gate.evaluate(intent(side=Side.SELL, price=None, order_type=OrderType.MARKET, quantity=D("1"),
                             reduce_only=True), key="exit")
    state = json.loads(json.dumps(rig.gate.export_state()))               # must be plain JSON
    restarted = RiskGate(rig.gate.loaded, rig.market, rig.accounts, clock=rig.clock)
    restarted.import_state(state)
    assert restarted.export_state() == state
    assert restarted.trading_state("main") == "REDUCE_ONLY"
    assert {b["name"]: b["state"] for b in restarted.breakers()}["venue:main"] == "OPEN"
    assert restarted.reservations()["exit"].quantity == D("1")


def test_configured_breakers_are_listed_closed_before_first_use(rig: Rig) -> None:
    rig.gate.register(accounts=["main"], sources=["demo"])
    listed = {b["name"]: b["state"] for b in rig.gate.breakers()}
    assert listed.get("source:demo") == "CLOSED" and listed.get("venue:main") == "CLOSED"
