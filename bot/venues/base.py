"""Venue-neutral shapes of what a venue reports: orders, trades, capabilities."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from bot.model import OrderStatus, Side


@dataclass(frozen=True, slots=True)
class VenueOrder:
    client_id: str | None
    venue_order_id: str | None
    symbol: str
    status: OrderStatus
    filled: Decimal
    average_price: Decimal | None
    side: Side | None = None
    quantity: Decimal | None = None
    order_type: str | None = None
    price: Decimal | None = None
    ts: float | None = None
    trades: tuple["VenueTrade", ...] = ()     # fills reported with a placement reply


@dataclass(frozen=True, slots=True)
class VenueTrade:
    trade_id: str
    venue_order_id: str | None
    client_id: str | None
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    fee: Decimal = Decimal(0)
    fee_currency: str | None = None
    ts: float = 0.0


@dataclass(frozen=True)
class Capabilities:
    bracket_orders: bool = False        # native attached stop-loss / take-profit on the entry
    oco: bool = False                   # native one-cancels-other order lists
    trailing_stops: bool = False
    order_types: tuple[str, ...] = ()
    time_in_force: tuple[str, ...] = ("GTC", "IOC", "FOK")
    features: tuple[str, ...] = field(default_factory=tuple)
