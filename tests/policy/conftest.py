"""Fakes and builders for policy tests: a policy from a dict, a settable market and accounts, a manual clock."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
import yaml

from bot.model import OrderIntent, OrderType, Side, Signal
from bot.policy import LoadedPolicy, Quote, RiskGate, Snapshot, parse_policy

D = Decimal
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc).timestamp()   # a Monday, noon UTC

BASE: dict[str, Any] = {
    "version": 1,
    "defaults": {
        "order": {"max_notional": "1000", "min_notional": "10", "max_slippage_bps": 50,
                  "allowed_types": ["MARKET", "LIMIT", "STOP_LIMIT"]},
        "position": {"max_notional": "5000", "max_open_orders": 4},
        "signal": {"max_age": "30s", "min_confidence": 0.5},
        "protection": {"require_stop_loss": True},
    },
    "symbols": {"allow": ["*/USDT"], "deny": ["LUNA/USDT"],
                "overrides": {"BTC/USDT": {"order": {"max_notional": "5000", "max_slippage_bps": 10}}}},
    "accounts": {"main": {"max_gross_exposure": "20000", "daily_loss_limit": "500", "max_drawdown_pct": 10,
                          "on_limit": "reduce_only"}},
    "sources": {"demo": {"rate": {"max": 3, "per": "1m"},
                         "breaker": {"window": 10, "min_win_rate": 0.3, "max_consecutive_losses": 3,
                                     "cooldown": "2h"}}},
    "venues": {"default": {"breaker": {"consecutive_failures": 3, "failure_rate": 0.5, "window": "60s",
                                       "min_calls": 6, "cooldown": "30s"}}},
    "strategies": {"default": {"breaker": {"consecutive_failures": 2, "cooldown": "5m"}}},
}


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def make_policy(changes: dict[str, Any] | None = None, path: str = "test-policy.yaml") -> LoadedPolicy:
    return parse_policy(yaml.safe_dump(merge(BASE, changes or {})).encode(), path)


def quote(bid: str = "99.9", ask: str = "100", ts: float = NOW) -> Quote:
    return Quote(D(bid), D(ask), D(ask), ts)


def intent(**changes: Any) -> OrderIntent:
    base = OrderIntent(account="main", symbol="ETH/USDT", side=Side.BUY, order_type=OrderType.LIMIT,
                       quantity=D("1"), price=D("100"), stop_loss=D("95"))
    return base.with_(**changes)


def snapshot(**changes: Any) -> Snapshot:
    values: dict[str, Any] = {"now": NOW, "quote": quote(), "free_balance": D("100000")}
    values.update(changes)
    return Snapshot(**values)


def signal(**changes: Any) -> Signal:
    values: dict[str, Any] = {"id": "s1", "source": "demo", "symbol": "ETH/USDT", "action": "open", "side": "buy",
                              "stop_loss": "95", "confidence": 0.8,
                              "generated_at": datetime.fromtimestamp(NOW - 1, timezone.utc)}
    values.update(changes)
    return Signal.model_validate(values)


class Clock:
    def __init__(self, now: float = NOW):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeMarket:
    """Quotes stamped with the (simulated) current time, so they stay fresh as the clock moves."""

    clock: Clock
    prices: dict[str, tuple[str, str] | None] = field(default_factory=dict)
    default: tuple[str, str] | None = ("99.9", "100")

    def quote(self, symbol: str) -> Quote | None:
        bid_ask = self.prices.get(symbol, self.default)
        return None if bid_ask is None else quote(*bid_ask, ts=self.clock())


@dataclass
class FakeAccounts:
    balances: dict[str, Decimal | None] = field(default_factory=lambda: {"USDT": D("100000"), "ETH": D("0")})
    positions: dict[str, Decimal] = field(default_factory=dict)
    orders: dict[str, int] = field(default_factory=dict)
    pnl: Decimal = D(0)

    def free_balance(self, account: str, asset: str) -> Decimal | None:
        return self.balances.get(asset)

    def position_qty(self, account: str, symbol: str) -> Decimal:
        return self.positions.get(symbol, D(0))

    def open_orders(self, account: str, symbol: str) -> int:
        return self.orders.get(symbol, 0)

    def realized_pnl_today(self, account: str) -> Decimal:
        return self.pnl


@dataclass
class Rig:
    gate: RiskGate
    market: FakeMarket
    accounts: FakeAccounts
    clock: Clock
    events: list[tuple[str, dict]]


def make_rig(changes: dict[str, Any] | None = None, loaded: LoadedPolicy | None = None) -> Rig:
    clock = Clock()
    market, accounts = FakeMarket(clock), FakeAccounts()
    events: list[tuple[str, dict]] = []
    gate = RiskGate(loaded or make_policy(changes), market, accounts, clock=clock,
                    on_event=lambda kind, payload: events.append((kind, payload)))
    return Rig(gate, market, accounts, clock, events)


@pytest.fixture
def rig() -> Rig:
    return make_rig()
