"""``follow``: trade every signal as given, sized by the signal or by a fixed notional."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot.model import Leg, OrderIntent, OrderType, Side, Signal
from bot.strategy.api import StrategyContext


class Follow:
    """Opens with the signal's size (else ``params.notional`` quote units); ``close`` signals exit the position.

    Protection (stop loss, take-profit ladder) is carried on the intent; execution places it on the fill.
    """

    def __init__(self, params: dict[str, Any] | None = None):
        self.params = params or {}

    def on_signal(self, signal: Signal, ctx: StrategyContext) -> list[OrderIntent]:
        if signal.action == "close":
            position = ctx.positions.get(signal.symbol)
            if position is None or position.quantity == 0:
                return []
            side = Side.SELL if position.quantity > 0 else Side.BUY
            return [OrderIntent(account=ctx.account, symbol=signal.symbol, side=side,
                                quantity=abs(position.quantity), reduce_only=True, leg=Leg.EXIT)]
        side = signal.order_side
        assert side is not None  # validated: open signals carry a side
        limit = signal.entry.type == "limit"
        reference = signal.entry.price if limit else ctx.price(signal.symbol)
        quantity, notional = self._size(signal, ctx, reference)
        return [OrderIntent(
            account=ctx.account, symbol=signal.symbol, side=side,
            order_type=OrderType.LIMIT if limit else OrderType.MARKET,
            quantity=quantity, notional=notional, price=signal.entry.price if limit else None,
            stop_loss=signal.stop_loss, take_profit=tuple(signal.take_profit_fractions()))]

    def _size(self, signal: Signal, ctx: StrategyContext,
              reference: Decimal | None) -> tuple[Decimal | None, Decimal | None]:
        size = signal.size
        if size is not None and size.quantity is not None:
            return size.quantity, None
        if size is not None and size.risk_pct is not None:
            equity = ctx.balances.get(signal.symbol.split("/")[1])
            notional = equity * size.risk_pct / 100 if equity is not None else None
        elif size is not None and size.notional is not None:
            notional = size.notional
        else:
            notional = ctx.param_decimal("notional", "100")
        if notional is None or reference is None or reference <= 0:
            return None, notional        # no price: the policy rejects with NO_MARKET_DATA (fails closed)
        return notional / reference, notional
