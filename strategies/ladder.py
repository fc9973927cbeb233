"""``ladder``: enters like ``follow`` and exits through a take-profit ladder.

A signal's own take-profit levels are used as given. Without them the ladder comes from params:
``levels_pct`` (default ["1", "2", "3"]) — distances from the entry price in percent (above it for buys,
below for sells) — and optionally ``sizes_pct`` — the share of the position each level closes (default:
split evenly; they must add up to at most 100). Execution places the levels as take-profit legs once the
entry fills, next to the stop loss.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot.model import OrderIntent, Signal
from bot.strategy.api import StrategyContext
from strategies.follow import Follow

HUNDRED = Decimal(100)


class Ladder(Follow):
    def on_signal(self, signal: Signal, ctx: StrategyContext) -> list[OrderIntent]:
        intents = super().on_signal(signal, ctx)
        if signal.action != "open" or signal.take_profit:
            return intents
        return [self._with_ladder(intent, ctx) for intent in intents]

    def _with_ladder(self, intent: OrderIntent, ctx: StrategyContext) -> OrderIntent:
        entry = intent.price or ctx.price(intent.symbol)
        if entry is None:
            return intent                # no price to measure levels from: the policy will judge the entry
        levels = [Decimal(str(p)) for p in self._list(ctx, "levels_pct", ["1", "2", "3"])]
        sizes = [Decimal(str(s)) / HUNDRED for s in self._list(ctx, "sizes_pct", [])]
        if sizes and (len(sizes) != len(levels) or sum(sizes) > 1):
            raise ValueError("ladder: sizes_pct needs one share per level, adding up to at most 100")
        fractions = sizes or [Decimal(1) / len(levels)] * len(levels)
        direction = intent.side.sign
        ladder = tuple((entry * (1 + direction * pct / HUNDRED), share) for pct, share in zip(levels, fractions))
        return intent.with_(take_profit=ladder)

    @staticmethod
    def _list(ctx: StrategyContext, key: str, default: list[Any]) -> list[Any]:
        value = ctx.params.get(key, default)
        return [value] if isinstance(value, (str, int, float, Decimal)) else list(value)
