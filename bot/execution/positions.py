"""Positions per account and symbol, built only from fills (each trade id once)."""
from __future__ import annotations

from decimal import Decimal

from bot.model import Fill, Position
from bot.store import Store


class PositionBook:
    def __init__(self, store: Store):
        self.store = store
        self._positions: dict[tuple[str, str], Position] = {
            (p.account, p.symbol): p for p in store.load_positions()}

    def get(self, account: str, symbol: str) -> Position:
        key = (account, symbol)
        if key not in self._positions:
            self._positions[key] = Position(account=account, symbol=symbol)
        return self._positions[key]

    def quantity(self, account: str, symbol: str) -> Decimal:
        position = self._positions.get((account, symbol))
        return position.quantity if position else Decimal(0)

    def apply(self, fill: Fill) -> tuple[Position, Decimal]:
        """Books a new fill (the caller has deduplicated it); returns the position and the PnL realized."""
        position = self.get(fill.account, fill.symbol)
        realized = position.apply(fill.side, fill.quantity, fill.price)
        if fill.fee_currency and fill.symbol.endswith("/" + fill.fee_currency):
            position.fees += fill.fee
        self.store.save_position(position)
        return position, realized

    def for_account(self, account: str) -> dict[str, Position]:
        return {symbol: p for (acc, symbol), p in self._positions.items() if acc == account}

    def all(self) -> list[Position]:
        return list(self._positions.values())
