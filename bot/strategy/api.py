"""What a strategy plugin implements and what it may read."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from bot.model import Fill, OrderIntent, Position, Signal


@dataclass(frozen=True)
class StrategyContext:
    """Read-only state for a handler. Nothing here places orders: intents go through the policy.

    ``price(symbol)`` is the last known mid (or last trade) price, or None when no market data is known;
    ``balances`` maps asset → free amount; ``positions`` maps symbol → Position (copies).
    """

    name: str
    account: str
    params: Mapping[str, Any]
    price: Callable[[str], Decimal | None]
    balances: Mapping[str, Decimal] = field(default_factory=dict)
    positions: Mapping[str, Position] = field(default_factory=dict)

    def param_decimal(self, key: str, default: str | None = None) -> Decimal:
        value = self.params.get(key, default)
        if value is None:
            raise KeyError(f"strategy {self.name}: missing parameter {key!r}")
        return Decimal(str(value))


@runtime_checkable
class Strategy(Protocol):
    """``on_signal`` may be sync or async; ``on_fill``, ``on_start`` and ``on_stop`` are optional."""

    def on_signal(self, signal: Signal, ctx: StrategyContext) -> list[OrderIntent]: ...


class FillListener(Protocol):
    def on_fill(self, fill: Fill, ctx: StrategyContext) -> None: ...
