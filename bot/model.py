"""The domain vocabulary shared by every component: signals, intents, orders, fills, positions, decisions.

Money and quantities are ``Decimal`` everywhere; conversion from wire strings happens at the edges.
Order status transitions are an explicit table: anything not listed is illegal and refused.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Side(str, enum.Enum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> "Side":
        return Side.SELL if self is Side.BUY else Side.BUY

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class OrderType(str, enum.Enum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    LIMIT_MAKER = "LIMIT_MAKER"
    STOP = "STOP"                # stop-market
    STOP_LIMIT = "STOP_LIMIT"
    TAKE_PROFIT = "TAKE_PROFIT"
    TAKE_PROFIT_LIMIT = "TAKE_PROFIT_LIMIT"
    TRAILING_STOP = "TRAILING_STOP"


class TimeInForce(str, enum.Enum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class OrderStatus(str, enum.Enum):
    PENDING = "PENDING"                  # durable in the store, not yet acknowledged by the venue
    OPEN = "OPEN"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED})

# Legal transitions. A venue may report a later state before an earlier one (a fill can arrive over the
# websocket before the REST acknowledgement), so PENDING may jump straight to any state.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset(OrderStatus) - {OrderStatus.PENDING},
    OrderStatus.OPEN: frozenset({OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCELED,
                                 OrderStatus.EXPIRED, OrderStatus.REJECTED}),
    OrderStatus.PARTIALLY_FILLED: frozenset({OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED,
                                             OrderStatus.CANCELED, OrderStatus.EXPIRED}),
    OrderStatus.FILLED: frozenset(),
    OrderStatus.CANCELED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
    OrderStatus.EXPIRED: frozenset(),
}


def can_transition(current: OrderStatus, new: OrderStatus) -> bool:
    return new in TRANSITIONS[current]


class Leg(str, enum.Enum):
    ENTRY = "entry"
    STOP_LOSS = "sl"
    TAKE_PROFIT = "tp"
    FLATTEN = "flat"
    EXIT = "exit"


# ---------------------------------------------------------------------------------------------------------
# Signals (SPEC §4.1): validated at the edge, immutable afterwards.

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EntrySpec(_Strict):
    type: Literal["market", "limit"] = "market"
    price: Decimal | None = None

    @model_validator(mode="after")
    def _limit_needs_price(self) -> "EntrySpec":
        if self.type == "limit" and self.price is None:
            raise ValueError("entry.price is required for a limit entry")
        if self.price is not None and self.price <= 0:
            raise ValueError("entry.price must be positive")
        return self


class TakeProfitLevel(_Strict):
    price: Decimal = Field(gt=0)
    size_pct: Decimal | None = Field(default=None, gt=0, le=100)


class SizeSpec(_Strict):
    notional: Decimal | None = Field(default=None, gt=0)
    quantity: Decimal | None = Field(default=None, gt=0)
    risk_pct: Decimal | None = Field(default=None, gt=0, le=100)

    @model_validator(mode="after")
    def _exactly_one(self) -> "SizeSpec":
        given = [n for n in ("notional", "quantity", "risk_pct") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("size needs exactly one of notional, quantity, risk_pct")
        return self


class Signal(_Strict):
    """A native signal, version 1 (SPEC §4.1)."""

    id: str = Field(min_length=1, max_length=128)
    source: str = Field(min_length=1, max_length=64)
    symbol: str = Field(pattern=r"^[A-Z0-9]{1,20}/[A-Z0-9]{1,20}$")
    action: Literal["open", "close"]
    side: Literal["buy", "sell"] | None = None
    entry: EntrySpec = EntrySpec()
    stop_loss: Decimal | None = Field(default=None, gt=0)
    take_profit: tuple[TakeProfitLevel, ...] = ()
    size: SizeSpec | None = None
    confidence: float | None = Field(default=None, ge=0, le=1)
    timeframe: str | None = None
    generated_at: datetime
    ttl: float | None = Field(default=None, gt=0)
    meta: dict[str, Any] = Field(default_factory=dict)

    @field_validator("take_profit", mode="before")
    @classmethod
    def _ladder(cls, value: Any) -> Any:
        # One price, a list of prices, or a list of {"price", "size_pct"} objects.
        if value is None:
            return ()
        if not isinstance(value, (list, tuple)):
            value = [value]
        return tuple(item if isinstance(item, (dict, TakeProfitLevel)) else {"price": item} for item in value)

    @field_validator("generated_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("generated_at must carry a timezone (RFC 3339)")
        return value

    @model_validator(mode="after")
    def _open_needs_side(self) -> "Signal":
        if self.action == "open" and self.side is None:
            raise ValueError("side is required when action is open")
        if self.take_profit and any(level.size_pct is not None for level in self.take_profit):
            if any(level.size_pct is None for level in self.take_profit):
                raise ValueError("take_profit: give size_pct for every level or for none")
            if sum(level.size_pct for level in self.take_profit) > 100:
                raise ValueError("take_profit: size_pct adds up to more than 100")
        return self

    @property
    def order_side(self) -> Side | None:
        return Side(self.side.upper()) if self.side else None

    def take_profit_fractions(self) -> list[tuple[Decimal, Decimal]]:
        """(price, fraction of the position) per take-profit level; split evenly unless size_pct is given."""
        levels = self.take_profit
        if not levels:
            return []
        if levels[0].size_pct is None:
            share = Decimal(1) / len(levels)
            return [(level.price, share) for level in levels]
        return [(level.price, level.size_pct / 100) for level in levels]


# ---------------------------------------------------------------------------------------------------------
# Intents, decisions, orders, fills, positions.

@dataclass(frozen=True, slots=True)
class Origin:
    """Who or what asked for an order: a signal (source + id) or an API key (name + source IP)."""

    kind: Literal["signal", "api"]
    source: str                  # signal source name, or API key name
    ref: str                     # signal id, or the client's client_order_id
    ip: str | None = None
    correlation_id: str | None = None


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """What a strategy (or the API) wants done; the policy judges it, execution carries it out."""

    account: str
    symbol: str
    side: Side
    order_type: OrderType = OrderType.MARKET
    quantity: Decimal | None = None          # base units; None = derive from notional at the current price
    notional: Decimal | None = None          # quote units
    price: Decimal | None = None             # limit price
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    stop_loss: Decimal | None = None
    take_profit: tuple[tuple[Decimal, Decimal], ...] = ()   # (price, fraction of the filled quantity)
    reduce_only: bool = False
    origin: Origin | None = None
    leg: Leg = Leg.ENTRY
    tag: str = ""                            # distinguishes several intents from one signal (ladders)

    def with_(self, **changes: Any) -> "OrderIntent":
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class Decision:
    """The policy's verdict on one intent. ``intent`` is the (possibly resized or priced) intent to execute."""

    accepted: bool
    intent: OrderIntent
    code: str | None = None          # reject code (SPEC §5), e.g. NOTIONAL_TOO_LARGE
    rule: str | None = None          # rule path, e.g. symbols.overrides.BTC/USDT.order.max_notional
    limit: str | None = None
    observed: str | None = None
    policy_hash: str = ""
    enforced: bool = True            # False in `mode: observe`: a reject is logged but not applied
    notes: tuple[str, ...] = ()

    @property
    def blocks(self) -> bool:
        return not self.accepted and self.enforced


@dataclass(slots=True)
class Order:
    id: str                                  # Tradewire's order id (== venue client id)
    account: str
    symbol: str
    side: Side
    order_type: OrderType
    quantity: Decimal
    client_id: str                           # the venue client id (≤ 36 chars)
    status: OrderStatus = OrderStatus.PENDING
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    venue_order_id: str | None = None
    filled: Decimal = Decimal(0)
    average_price: Decimal | None = None
    leg: Leg = Leg.ENTRY
    parent_id: str | None = None
    origin_kind: str = "signal"
    origin_source: str = ""
    origin_ref: str = ""
    origin_ip: str | None = None
    correlation_id: str | None = None
    signal_key: str | None = None            # "<source>:<signal id>" for orders from signals
    stop_loss: Decimal | None = None
    take_profit: str = ""                    # JSON list of [price, fraction] for the entry's protection
    reduce_only: bool = False
    error: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled


@dataclass(frozen=True, slots=True)
class Fill:
    trade_id: str
    order_id: str
    account: str
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    fee: Decimal = Decimal(0)
    fee_currency: str | None = None
    ts: float = 0.0


AVERAGE_STEP = Decimal("1e-10")


@dataclass(slots=True)
class Position:
    account: str
    symbol: str
    quantity: Decimal = Decimal(0)           # signed: > 0 long, < 0 short
    average_entry: Decimal = Decimal(0)
    realized_pnl: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    extra: dict[str, Any] = field(default_factory=dict)

    def apply(self, side: Side, quantity: Decimal, price: Decimal) -> Decimal:
        """Books a fill; returns the PnL it realized (closing part only)."""
        signed = quantity * side.sign
        realized = Decimal(0)
        if self.quantity == 0 or (self.quantity > 0) == (signed > 0):
            total = self.quantity + signed
            # Prices and quantities carry ≤ 8 decimals; keep the average to 10 so it stays readable.
            self.average_entry = ((self.average_entry * abs(self.quantity) + price * quantity)
                                  / abs(total)).quantize(AVERAGE_STEP)
            self.quantity = total
            return realized
        closing = min(abs(signed), abs(self.quantity))
        direction = 1 if self.quantity > 0 else -1
        realized = (price - self.average_entry) * closing * direction
        self.realized_pnl += realized
        remainder = abs(signed) - closing
        self.quantity += signed
        if self.quantity == 0:
            self.average_entry = Decimal(0)
        elif remainder > 0:                  # flipped through zero: the remainder opens at this price
            self.average_entry = price
        return realized

    def unrealized(self, mark: Decimal | None) -> Decimal | None:
        if mark is None or self.quantity == 0:
            return Decimal(0) if self.quantity == 0 else None
        return (mark - self.average_entry) * self.quantity
