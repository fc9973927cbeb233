"""The pure engine: one table row per reject code, then pricing, kinds of intent, observe mode, explain."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from bot.model import Leg, OrderType, Side, TimeInForce
from bot.policy import decide, explain

from .conftest import NOW, D, intent, make_policy, quote, signal, snapshot

POLICY = make_policy()

# (reject code, policy changes, intent changes, snapshot changes, rule path the reject must name)
REJECTS: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any], str]] = [
    ("SYMBOL_DENIED", {}, {"symbol": "LUNA/USDT"}, {}, "symbols.deny"),
    ("SYMBOL_NOT_ALLOWED", {}, {"symbol": "BTC/EUR"}, {}, "symbols.allow"),
    ("ORDER_TYPE_NOT_ALLOWED", {}, {"order_type": OrderType.STOP, "price": None, "stop_price": D("101")}, {},
     "defaults.order.allowed_types"),
    ("NOTIONAL_TOO_LARGE", {}, {"quantity": D("20")}, {}, "defaults.order.max_notional"),
    ("NOTIONAL_TOO_LARGE", {}, {"symbol": "BTC/USDT", "quantity": D("1"), "price": D("6000")},
     {"quote": quote("5999", "6000")}, "symbols.overrides.BTC/USDT.order.max_notional"),
    ("NOTIONAL_TOO_SMALL", {}, {"quantity": D("0.05")}, {}, "defaults.order.min_notional"),
    ("POSITION_LIMIT", {}, {"quantity": D("6")}, {"position_qty": D("45")}, "defaults.position.max_notional"),
    ("POSITION_LIMIT", {}, {"quantity": D("6")}, {"position_qty": D("40"), "pending_buy": D("5")},
     "defaults.position.max_notional"),
    ("POSITION_LIMIT", {}, {"quantity": D("6")}, {"gross_exposure": D("19500")}, "accounts.main.max_gross_exposure"),
    ("OPEN_ORDERS_LIMIT", {}, {}, {"open_orders": 4}, "defaults.position.max_open_orders"),
    ("SLIPPAGE_TOO_HIGH", {}, {"price": D("101")}, {}, "defaults.order.max_slippage_bps"),
    ("SLIPPAGE_TOO_HIGH", {}, {"side": Side.SELL, "price": D("99")}, {}, "defaults.order.max_slippage_bps"),
    ("NO_MARKET_DATA", {}, {}, {"quote": None}, "defaults.market.max_quote_age"),
    ("NO_MARKET_DATA", {}, {}, {"quote": quote(ts=NOW - 60)}, "defaults.market.max_quote_age"),
    ("NO_MARKET_DATA", {}, {"order_type": OrderType.MARKET, "price": None}, {"quote": None},
     "defaults.market.max_quote_age"),
    ("NO_MARKET_DATA", {}, {"quantity": D("1")}, {"gross_exposure": None}, "accounts.main.max_gross_exposure"),
    ("SIGNAL_STALE", {}, {}, {"signal": signal(generated_at=datetime.fromtimestamp(NOW - 60, timezone.utc))},
     "defaults.signal.max_age"),
    ("SIGNAL_STALE", {}, {}, {"signal": signal(ttl=5, generated_at=datetime.fromtimestamp(NOW - 10, timezone.utc))},
     "signal.ttl"),
    ("SIGNAL_STALE", {"sources": {"demo": {"signal": {"max_age": "5s"}}}}, {},
     {"signal": signal(generated_at=datetime.fromtimestamp(NOW - 10, timezone.utc))}, "sources.demo.signal.max_age"),
    ("LOW_CONFIDENCE", {}, {}, {"signal": signal(confidence=0.2)}, "defaults.signal.min_confidence"),
    ("LOW_CONFIDENCE", {}, {}, {"signal": signal(confidence=None)}, "defaults.signal.min_confidence"),
    ("STOP_LOSS_REQUIRED", {}, {"stop_loss": None}, {}, "defaults.protection.require_stop_loss"),
    ("SOURCE_RATE_LIMIT", {}, {}, {"signal": signal(), "source_recent": 3}, "sources.demo.rate"),
    ("BREAKER_OPEN", {}, {}, {"venue_breaker": "OPEN"}, "venues.default.breaker"),
    ("BREAKER_OPEN", {}, {}, {"signal": signal(), "source_breaker": "OPEN"}, "sources.demo.breaker"),
    ("TRADING_HALTED", {}, {}, {"trading_state": "HALTED"}, "trading_state.main"),
    ("REDUCE_ONLY", {}, {}, {"trading_state": "REDUCE_ONLY"}, "trading_state.main"),
    ("OUTSIDE_TRADING_WINDOW", {"schedule": {"windows": [{"days": "mon-fri", "from": "09:00", "to": "10:00"}]}},
     {}, {}, "schedule.windows"),
    ("OUTSIDE_TRADING_WINDOW", {"schedule": {"windows": [{"days": "sat,sun", "from": "00:00", "to": "24:00"}]}},
     {}, {}, "schedule.windows"),
    ("DAILY_LOSS_LIMIT", {}, {}, {"realized_pnl_today": D("-500")}, "accounts.main.daily_loss_limit"),
    ("INSUFFICIENT_BALANCE", {}, {}, {"free_balance": D("50")}, "balance.USDT"),
    ("INSUFFICIENT_BALANCE", {}, {}, {"free_balance": D("150"), "reserved_spend": D("100")}, "balance.USDT"),
    ("INSUFFICIENT_BALANCE", {}, {}, {"free_balance": None}, "balance.USDT"),
    ("INSUFFICIENT_BALANCE", {}, {"side": Side.SELL, "price": D("99.9")}, {"free_balance": D("0.5")}, "balance.ETH"),
    ("INVALID_QUANTITY", {}, {"quantity": D("0")}, {}, "intent.quantity"),
    ("REDUCE_ONLY", {}, {"reduce_only": True, "side": Side.BUY}, {"position_qty": D("2")}, "intent.reduce_only"),
]


@pytest.mark.parametrize("code,policy,intent_changes,snap_changes,rule", REJECTS,
                         ids=[f"{row[0]}-{row[4]}-{i}" for i, row in enumerate(REJECTS)])
def test_every_reject_code_names_its_rule(code: str, policy: dict, intent_changes: dict, snap_changes: dict,
                                          rule: str) -> None:
    loaded = make_policy(policy) if policy else POLICY
    decision = decide(intent(**intent_changes), snapshot(**snap_changes), loaded)
    assert (decision.accepted, decision.code, decision.rule) == (False, code, rule)
    assert decision.enforced and decision.blocks
    assert decision.policy_hash == loaded.hash
    assert decision.limit is not None and decision.observed is not None


def test_the_baseline_intent_is_accepted() -> None:
    decision = decide(intent(), snapshot(signal=signal()), POLICY)
    assert decision.accepted, decision
    assert decision.code is None and decision.intent == intent(notional=D("100"))   # the notional is filled in


def test_a_reject_reports_limit_and_observed_value() -> None:
    decision = decide(intent(quantity=D("20")), snapshot(), POLICY)
    assert (decision.limit, decision.observed) == ("1000", "2000")


@pytest.mark.parametrize("side,touch,protective", [(Side.BUY, "100", D("100.5")), (Side.SELL, "99.9", D("99.4005"))])
def test_market_entry_becomes_ioc_limit_at_the_protective_price(side: Side, touch: str, protective: D) -> None:
    decision = decide(intent(side=side, order_type=OrderType.MARKET, price=None), snapshot(free_balance=D("1e6")),
                      POLICY)
    assert decision.accepted, decision
    sent = decision.intent
    assert (sent.order_type, sent.time_in_force, sent.price) == (OrderType.LIMIT, TimeInForce.IOC, protective)
    assert sent.notional == protective * sent.quantity
    assert any("IOC" in note for note in decision.notes)


def test_notional_only_intent_is_sized_at_the_worst_price() -> None:
    decision = decide(intent(order_type=OrderType.MARKET, price=None, quantity=None, notional=D("201")),
                      snapshot(), POLICY)
    assert decision.accepted
    assert decision.intent.quantity == D("201") / D("100.5")
    assert decision.intent.quantity * decision.intent.price == D("201")


def test_market_order_cannot_skip_the_notional_check() -> None:
    """NautilusTrader lets a MARKET order without a price past the notional check; here it is judged."""
    too_big = intent(order_type=OrderType.MARKET, price=None, quantity=D("50"))
    assert decide(too_big, snapshot(), POLICY).code == "NOTIONAL_TOO_LARGE"


def test_override_patterns_apply_in_order_and_exact_symbol_wins() -> None:
    loaded = make_policy({"symbols": {"overrides": {
        "*/USDT": {"order": {"max_notional": "300"}},
        "ETH/*": {"order": {"max_notional": "400"}},
        "ETH/USDT": {"position": {"max_open_orders": 1}}}}})
    decision = decide(intent(quantity=D("4.5")), snapshot(), loaded)
    assert (decision.code, decision.rule) == ("NOTIONAL_TOO_LARGE", "symbols.overrides.ETH/*.order.max_notional")
    assert decide(intent(), snapshot(open_orders=1), loaded).rule == \
        "symbols.overrides.ETH/USDT.position.max_open_orders"


def test_resize_shrinks_instead_of_rejecting_when_the_policy_allows_it() -> None:
    loaded = make_policy({"defaults": {"order": {"resize": True}}})
    decision = decide(intent(quantity=D("20")), snapshot(), loaded)
    assert decision.accepted
    assert decision.intent.quantity == D("10") and decision.intent.notional == D("1000")
    assert any("resized" in note for note in decision.notes)


def test_observe_mode_reports_but_does_not_block() -> None:
    loaded = make_policy({"mode": "observe"})
    decision = decide(intent(symbol="LUNA/USDT"), snapshot(), loaded)
    assert (decision.accepted, decision.code, decision.enforced, decision.blocks) == \
        (False, "SYMBOL_DENIED", False, False)


def test_an_entry_that_shrinks_a_short_passes_the_position_limit() -> None:
    decision = decide(intent(quantity=D("6")), snapshot(position_qty=D("-60")), POLICY)
    assert decision.accepted, decision


def test_overnight_window_belongs_to_the_day_it_starts() -> None:
    loaded = make_policy({"schedule": {"windows": [{"days": "sun", "from": "22:00", "to": "13:00"}]}})
    assert decide(intent(), snapshot(), loaded).accepted            # Monday 12:00 is inside Sunday's window
    assert decide(intent(), snapshot(now=NOW + 3600), loaded).code == "OUTSIDE_TRADING_WINDOW"


# --- reducing intents and protective legs ------------------------------------------------------------------

def closing(**changes: Any):
    return intent(side=Side.SELL, order_type=OrderType.MARKET, price=None, quantity=D("2"), stop_loss=None,
                  reduce_only=True).with_(**changes)


@pytest.mark.parametrize("state", ["ACTIVE", "REDUCE_ONLY"])
def test_reduce_only_exit_passes_whatever_limits_it_reduces(state: str) -> None:
    hostile = snapshot(trading_state=state, position_qty=D("500"), quote=None, free_balance=None,
                       gross_exposure=None, open_orders=99, venue_breaker="OPEN", realized_pnl_today=D("-9999"))
    decision = decide(closing(symbol="LUNA/USDT"), hostile, POLICY)
    assert decision.accepted, decision
    assert decision.intent.order_type is OrderType.MARKET          # exits are not held back by a price


def test_reduce_only_exit_is_clipped_to_the_position_and_pending_exits() -> None:
    decision = decide(closing(quantity=D("5")), snapshot(position_qty=D("3"), pending_reduce=D("1")), POLICY)
    assert decision.accepted and decision.intent.quantity == D("2")
    assert decide(closing(quantity=None), snapshot(position_qty=D("3")), POLICY).intent.quantity == D("3")


def test_halted_refuses_strategy_exits_but_not_protective_legs() -> None:
    halted = snapshot(trading_state="HALTED", position_qty=D("2"), quote=None)
    assert decide(closing(), halted, POLICY).code == "TRADING_HALTED"
    for leg in (Leg.FLATTEN, Leg.STOP_LOSS, Leg.TAKE_PROFIT):
        decision = decide(closing(leg=leg), halted, POLICY)
        assert decision.accepted and decision.intent == closing(leg=leg)


def test_protective_leg_is_not_judged_by_entry_limits() -> None:
    leg = intent(side=Side.SELL, order_type=OrderType.STOP_LIMIT, quantity=D("900"), price=D("90"),
                 stop_price=D("91"), leg=Leg.STOP_LOSS, reduce_only=True, stop_loss=None)
    assert decide(leg, snapshot(quote=None, free_balance=None), POLICY).accepted


# --- explain ---------------------------------------------------------------------------------------------

def test_explain_reports_every_rule_not_only_the_first_failure() -> None:
    result = explain(intent(symbol="LUNA/USDT", quantity=D("20"), stop_loss=None), snapshot(signal=signal()), POLICY)
    failed = [v.code for v in result.verdicts if v.outcome == "fail"]
    assert failed == ["SYMBOL_DENIED", "STOP_LOSS_REQUIRED", "NOTIONAL_TOO_LARGE"]
    assert result.decision.code == "SYMBOL_DENIED"
    rules = {v.rule for v in result.verdicts}
    assert {"defaults.signal.max_age", "sources.demo.rate", "defaults.position.max_notional",
            "accounts.main.max_gross_exposure", "balance.USDT"} <= rules
    assert result.decision == decide(intent(symbol="LUNA/USDT", quantity=D("20"), stop_loss=None),
                                     snapshot(signal=signal()), POLICY)
