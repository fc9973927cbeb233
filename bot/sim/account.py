"""Balances: free and locked per asset. Orders lock what they may spend; fills settle with fees."""
from __future__ import annotations

from decimal import Decimal

from .errors import INSUFFICIENT, rejected

ZERO = Decimal(0)


class Account:
    def __init__(self, balances: dict[str, Decimal]):
        self.free: dict[str, Decimal] = {asset: Decimal(amount) for asset, amount in balances.items()}
        self.locked: dict[str, Decimal] = {asset: ZERO for asset in balances}
        self.update_time = 0

    def ensure(self, asset: str) -> None:
        self.free.setdefault(asset, ZERO)
        self.locked.setdefault(asset, ZERO)

    def lock(self, asset: str, amount: Decimal) -> None:
        self.ensure(asset)
        if amount > self.free[asset]:
            raise rejected(INSUFFICIENT)
        self.free[asset] -= amount
        self.locked[asset] += amount

    def unlock(self, asset: str, amount: Decimal) -> None:
        self.ensure(asset)
        self.locked[asset] -= amount
        self.free[asset] += amount

    def spend(self, asset: str, amount: Decimal, from_locked: Decimal) -> None:
        """Pay ``amount``: first ``from_locked`` out of the lock, the rest out of free."""
        self.ensure(asset)
        self.locked[asset] -= from_locked
        self.free[asset] -= amount - from_locked

    def credit(self, asset: str, amount: Decimal) -> None:
        self.ensure(asset)
        self.free[asset] += amount

    def set(self, asset: str, amount: Decimal) -> None:
        self.ensure(asset)
        self.free[asset] = amount

    def snapshot(self) -> dict[str, dict[str, Decimal]]:
        return {a: {"free": self.free[a], "locked": self.locked.get(a, ZERO)} for a in sorted(self.free)}
