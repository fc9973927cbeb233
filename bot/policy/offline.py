"""A static world for ``policy explain`` and ``replay``: quotes, balances and positions from a state file,
a strategy run outside the daemon, and a ``RiskGate`` over them with a clock the caller moves.

State file (JSON; every key optional)::

    {"now": "2026-11-21T12:00:05Z",
     "quotes": {"BTC/USDT": {"bid": "67340", "ask": "67350"}},
     "balances": {"USDT": "10000"}, "positions": {"BTC/USDT": "0.01"}, "open_orders": {"BTC/USDT": 1},
     "realized_pnl_today": "-120", "account": "main", "risk": {...RiskGate.export_state()...}}

Without ``balances`` every asset is assumed to hold ``PAPER_BALANCE`` (a what-if should show the policy's
limits, not an empty paper account); without a quote for a symbol, the signal's limit entry price stands in
as bid and ask, and a market signal without any price is judged with no market data, as the daemon would.
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.model import Leg, OrderIntent, Position, Signal
from bot.policy.engine import Quote
from bot.policy.gate import RiskGate
from bot.policy.loader import LoadedPolicy
from bot.strategy import StrategyContext, StrategyRunner, load_strategy

PAPER_BALANCE = Decimal("100000")
DEFAULT_STRATEGY = "strategies.follow:Follow"


def parse_time(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def read_json_arg(text: str) -> Any:
    """``@path`` reads a file; anything else is JSON text."""
    return json.loads(Path(text[1:]).read_text() if text.startswith("@") else text)


@dataclass
class OfflineWorld:
    """Implements MarketView and AccountView over plain dicts; orders it is told about fill at once."""

    now: float = 0.0
    quotes: dict[str, Quote] = field(default_factory=dict)
    balances: dict[str, Decimal] | None = None         # None = paper balances
    positions: dict[str, Decimal] = field(default_factory=dict)
    orders: dict[str, int] = field(default_factory=dict)
    pnl_today: Decimal = Decimal(0)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "OfflineWorld":
        world = cls(now=parse_time(state["now"]) if "now" in state else 0.0)
        for symbol, q in state.get("quotes", {}).items():
            world.set_quote(symbol, q.get("bid"), q.get("ask"), q.get("last"), world.now)
        if "balances" in state:
            world.balances = {asset: Decimal(str(v)) for asset, v in state["balances"].items()}
        world.positions = {s: Decimal(str(v)) for s, v in state.get("positions", {}).items()}
        world.orders = {s: int(v) for s, v in state.get("open_orders", {}).items()}
        world.pnl_today = Decimal(str(state.get("realized_pnl_today", "0")))
        return world

    def set_quote(self, symbol: str, bid: Any, ask: Any, last: Any = None, ts: float | None = None) -> None:
        def dec(value: Any) -> Decimal | None:
            return None if value is None else Decimal(str(value))
        self.quotes[symbol] = Quote(dec(bid), dec(ask), dec(last) or dec(bid) or dec(ask),
                                    self.now if ts is None else ts)

    def stand_in_quote(self, signal: Signal) -> None:
        if signal.symbol not in self.quotes and signal.entry.price is not None:
            self.set_quote(signal.symbol, signal.entry.price, signal.entry.price, ts=self.now)

    # -- MarketView / AccountView -------------------------------------------------------------------------

    def quote(self, symbol: str) -> Quote | None:
        quote = self.quotes.get(symbol)
        # Quotes in a state file or price series are "as of" their time; offline they never go stale
        # between two recorded prices, so they are stamped with the current replay time.
        return None if quote is None else Quote(quote.bid, quote.ask, quote.last, self.now)

    def free_balance(self, account: str, asset: str) -> Decimal | None:
        return PAPER_BALANCE if self.balances is None else self.balances.get(asset)

    def position_qty(self, account: str, symbol: str) -> Decimal:
        return self.positions.get(symbol, Decimal(0))

    def open_orders(self, account: str, symbol: str) -> int:
        return self.orders.get(symbol, 0)

    def realized_pnl_today(self, account: str) -> Decimal:
        return self.pnl_today

    def symbols(self, account: str) -> list[str]:
        return list(self.positions)

    # -- the strategy side ----------------------------------------------------------------------------------

    def context(self, name: str, account: str, params: dict[str, Any]) -> StrategyContext:
        def price(symbol: str) -> Decimal | None:
            quote = self.quote(symbol)
            return quote.mark if quote is not None else None
        balances = {asset: value for asset, value in (self.balances or {}).items()}
        positions = {s: Position(account, s, q) for s, q in self.positions.items()}
        return StrategyContext(name=name, account=account, params=params, price=price, balances=balances,
                               positions=positions)

    def fill(self, intent: OrderIntent) -> None:
        """Books an admitted order as filled at its price (replay does not model resting orders)."""
        if intent.quantity is None:
            return
        signed = intent.quantity * intent.side.sign
        self.positions[intent.symbol] = self.positions.get(intent.symbol, Decimal(0)) + signed
        if self.balances is not None and intent.price is not None:
            base, _, quote_asset = intent.symbol.partition("/")
            cost = intent.quantity * intent.price
            self.balances[quote_asset] = self.balances.get(quote_asset, Decimal(0)) - cost * intent.side.sign
            self.balances[base] = self.balances.get(base, Decimal(0)) + signed


def make_gate(loaded: LoadedPolicy, world: OfflineWorld, state: dict[str, Any] | None = None) -> RiskGate:
    gate = RiskGate(loaded, world, world, clock=lambda: world.now)
    if state and "risk" in state:
        gate.import_state(state["risk"])
    return gate


def strategy_intents(handler: str, params: dict[str, Any], signal: Signal, world: OfflineWorld,
                     account: str) -> list[OrderIntent]:
    """Runs the strategy like the daemon does (timeout, error containment); raises StrategyError."""
    name = handler.rpartition(":")[2] or handler
    runner = StrategyRunner(name, load_strategy(handler, params))
    intents = asyncio.run(runner.on_signal(signal, world.context(name, account, params)))
    # As the daemon does: a close signal's orders are exits, whatever leg the strategy gave them.
    if signal.action == "close":
        return [i.with_(account=account, leg=Leg.EXIT, reduce_only=True) for i in intents]
    return [i.with_(account=account) for i in intents]


def parse_params(items: list[str] | None) -> dict[str, Any]:
    """``key=value`` pairs from the command line."""
    params: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--param {item!r}: expected key=value")
        params[key] = value
    return params

