"""``confidence_sized``: like ``follow``, but the order grows with the signal's confidence.

Params (quote currency amounts as strings): ``base_notional`` (default "50") at ``min_confidence`` (default
0.5), rising linearly to ``max_notional`` (default "200") at confidence 1. Signals below ``min_confidence``
produce no order; a signal without a confidence gets ``base_notional``. A size given by the signal itself
(quantity, notional, risk_pct) wins, as in ``follow``.
"""
from __future__ import annotations

from decimal import Decimal

from bot.model import OrderIntent, Signal
from bot.strategy.api import StrategyContext
from strategies.follow import Follow


class ConfidenceSized(Follow):
    def on_signal(self, signal: Signal, ctx: StrategyContext) -> list[OrderIntent]:
        if signal.action == "open" and signal.confidence is not None and signal.confidence < self._floor(ctx):
            return []
        return super().on_signal(signal, ctx)

    def _size(self, signal: Signal, ctx: StrategyContext,
              reference: Decimal | None) -> tuple[Decimal | None, Decimal | None]:
        if signal.size is not None:
            return super()._size(signal, ctx, reference)
        notional = self.notional_for(signal.confidence, ctx)
        if reference is None or reference <= 0:
            return None, notional        # no price: the policy sizes it from the notional, or rejects
        return notional / reference, notional

    def notional_for(self, confidence: float | None, ctx: StrategyContext) -> Decimal:
        base, top = ctx.param_decimal("base_notional", "50"), ctx.param_decimal("max_notional", "200")
        floor = self._floor(ctx)
        if confidence is None or floor >= 1:
            return base
        share = (Decimal(str(confidence)) - floor) / (1 - floor)
        return base + (top - base) * min(max(share, Decimal(0)), Decimal(1))

    @staticmethod
    def _floor(ctx: StrategyContext) -> Decimal:
        return ctx.param_decimal("min_confidence", "0.5")
