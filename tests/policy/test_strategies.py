"""The shipped strategies confidence_sized and ladder, and the policy judging what they produce."""
from __future__ import annotations

from typing import Any

import pytest

from bot.model import Leg, OrderType, Position, Side
from bot.strategy import StrategyContext, load_strategy
from strategies.confidence_sized import ConfidenceSized
from strategies.ladder import Ladder

from .conftest import D, make_rig, signal


def ctx(params: dict[str, Any] | None = None, price: str | None = "100", positions=None) -> StrategyContext:
    return StrategyContext(name="t", account="main", params=params or {},
                           price=lambda symbol: None if price is None else D(price), positions=positions or {})


@pytest.mark.parametrize("confidence,notional", [(0.5, "50"), (0.75, "125"), (1.0, "200"), (None, "50")])
def test_confidence_sized_grows_linearly_with_confidence(confidence: float | None, notional: str) -> None:
    (intent,) = ConfidenceSized().on_signal(signal(confidence=confidence), ctx())
    assert intent.notional == D(notional) and intent.quantity == D(notional) / 100


def test_confidence_sized_skips_weak_signals_and_honours_params() -> None:
    strategy = ConfidenceSized(params={})
    assert strategy.on_signal(signal(confidence=0.3), ctx()) == []
    params = {"base_notional": "10", "max_notional": "110", "min_confidence": 0.0}
    (intent,) = strategy.on_signal(signal(confidence=0.3), ctx(params))
    assert intent.notional == D("40")


def test_confidence_sized_without_a_price_leaves_sizing_to_the_policy() -> None:
    (intent,) = ConfidenceSized().on_signal(signal(confidence=1.0), ctx(price=None))
    assert (intent.quantity, intent.notional, intent.order_type) == (None, D("200"), OrderType.MARKET)


def test_a_signal_size_wins_over_confidence() -> None:
    (intent,) = ConfidenceSized().on_signal(signal(size={"quantity": "3"}), ctx())
    assert intent.quantity == D("3")


def test_ladder_builds_levels_from_params_when_the_signal_has_none() -> None:
    (buy,) = Ladder().on_signal(signal(), ctx())
    assert buy.take_profit == ((D("101"), D(1) / 3), (D("102"), D(1) / 3), (D("103"), D(1) / 3))
    params = {"levels_pct": ["2", "4"], "sizes_pct": ["75", "25"]}
    (sell,) = Ladder().on_signal(signal(side="sell", stop_loss="105"), ctx(params))
    assert sell.take_profit == ((D("98"), D("0.75")), (D("96"), D("0.25")))


def test_ladder_keeps_the_signals_own_levels() -> None:
    levels = [{"price": "110", "size_pct": 60}, {"price": "120", "size_pct": 40}]
    (intent,) = Ladder().on_signal(signal(take_profit=levels), ctx({"levels_pct": ["1"]}))
    assert intent.take_profit == ((D("110"), D("0.6")), (D("120"), D("0.4")))


def test_ladder_refuses_inconsistent_sizes() -> None:
    with pytest.raises(ValueError, match="sizes_pct"):
        Ladder().on_signal(signal(), ctx({"levels_pct": ["1", "2"], "sizes_pct": ["80", "30"]}))


def test_close_signals_exit_the_position() -> None:
    positions = {"ETH/USDT": Position("main", "ETH/USDT", D("2"))}
    for strategy in (ConfidenceSized(), Ladder()):
        (intent,) = strategy.on_signal(signal(action="close", side=None), ctx(positions=positions))
        assert (intent.side, intent.quantity, intent.reduce_only) == (Side.SELL, D("2"), True)


def test_loader_builds_them_from_module_class_with_params() -> None:
    strategy = load_strategy("strategies.ladder:Ladder", {"levels_pct": ["5"]})
    assert isinstance(strategy, Ladder) and strategy.params == {"levels_pct": ["5"]}


def test_policy_accepts_what_they_produce() -> None:
    rig = make_rig()
    for strategy in (ConfidenceSized(), Ladder()):
        (intent,) = strategy.on_signal(signal(), ctx())
        decision = rig.gate.evaluate(intent, signal(), key=type(strategy).__name__)
        assert decision.accepted, decision
        assert decision.intent.order_type is OrderType.LIMIT and decision.intent.leg is Leg.ENTRY
