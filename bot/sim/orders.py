"""Order, trade and order-list records, and parsing/validation of Binance order parameters."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from .errors import BinanceError, bad_param, mandatory
from .market import Market

ZERO = Decimal(0)
CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
DECIMAL_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
ORDER_TYPES = ("LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
PRICED = ("LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
NEEDS_TIF = ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
STOPS = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
OPEN = ("NEW", "PARTIALLY_FILLED")


@dataclass(eq=False)
class Order:
    order_id: int
    market: Market
    client_id: str
    side: str
    type: str
    tif: str
    qty: Decimal
    price: Decimal
    stop_price: Decimal
    quote_qty: Decimal
    time: int
    status: str = "NEW"
    executed: Decimal = ZERO
    cum_quote: Decimal = ZERO
    update_time: int = 0
    working_time: int = -1          # -1 while a stop order waits for its trigger
    list_id: int = -1
    lock_asset: str = ""
    lock_left: Decimal = ZERO
    expiry_reason: str | None = None
    exec_seq: int = 0

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def is_stop(self) -> bool:
        return self.type in STOPS

    @property
    def quote_mode(self) -> bool:
        return self.type == "MARKET" and self.quote_qty > 0

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.executed

    def next_exec_id(self) -> int:
        # Binance's execution id only needs to be unique and increasing; derive it from the order id.
        self.exec_seq += 1
        return self.order_id * 1000 + self.exec_seq

    def triggers_at(self, last: Decimal) -> bool:
        if self.type.startswith("STOP_LOSS"):
            return last >= self.stop_price if self.side == "BUY" else last <= self.stop_price
        return last <= self.stop_price if self.side == "BUY" else last >= self.stop_price


@dataclass(eq=False)
class Trade:
    id: int
    market: Market
    order_id: int
    list_id: int
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_buyer: bool
    is_maker: bool


@dataclass(eq=False)
class OrderList:
    list_id: int
    market: Market
    client_id: str
    time: int
    orders: list[Order] = field(default_factory=list)   # below leg first, as Binance lists them
    status_type: str = "EXEC_STARTED"
    order_status: str = "EXECUTING"

    @property
    def is_open(self) -> bool:
        return self.order_status == "EXECUTING"


def decimal_param(params: dict, name: str) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not DECIMAL_RE.match(raw):
        raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'; "
                                  "legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.")
    try:
        return Decimal(raw)
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
        raise mandatory(name) from exc


def client_id_param(params: dict, name: str) -> str | None:
    raw = params.get(name)
    if raw is None:
        return None
    if raw == "":
        raise BinanceError(-1118, "New client order ID was empty.")
    if not CLIENT_ID_RE.match(raw):
        raise bad_param(name)
    return raw


@dataclass
class OrderSpec:
    """Validated order parameters, before the engine checks filters, balances and the book."""
    side: str
    type: str
    tif: str
    qty: Decimal
    price: Decimal
    stop_price: Decimal
    quote_qty: Decimal
    client_id: str | None


def parse_spec(params: dict, prefix: str = "") -> OrderSpec:
    """Read one order from ``params``; ``prefix`` is "above"/"below" for OCO legs (aboveType...)."""

    def key(name: str) -> str:
        return prefix + name[0].upper() + name[1:] if prefix else name

    side = params.get("side")
    if not side:
        raise mandatory("side")
    if side not in ("BUY", "SELL"):
        raise BinanceError(-1117, "Invalid side.")
    otype = params.get(key("type"))
    if not otype:
        raise mandatory(key("type"))
    if otype not in ORDER_TYPES:
        raise BinanceError(-1116, "Invalid orderType.")
    tif = params.get(key("timeInForce"))
    qty = decimal_param(params, "quantity")
    quote_qty = decimal_param(params, "quoteOrderQty") if not prefix else None
    price = decimal_param(params, key("price"))
    stop = decimal_param(params, key("stopPrice"))
    if params.get(key("trailingDelta")):
        raise BinanceError(-2010, "Trailing stop orders are not supported for this symbol.")
    if params.get(key("icebergQty")) not in (None, "", "0"):
        raise BinanceError(-2010, "Iceberg orders are not supported for this symbol.")
    if otype == "MARKET":
        if qty is None and quote_qty is None:
            raise BinanceError(-1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!")
        if qty is not None and quote_qty is not None:
            raise BinanceError(-1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!")
    else:
        if qty is None:
            raise mandatory("quantity")
        if quote_qty is not None:
            raise BinanceError(-1106, "Parameter 'quoteOrderQty' sent when not required.")
    if otype in PRICED and price is None:
        raise mandatory(key("price"))
    if otype not in PRICED and price is not None:
        raise BinanceError(-1106, f"Parameter '{key('price')}' sent when not required.")
    if otype in STOPS and stop is None:
        raise mandatory(key("stopPrice"))
    if otype not in STOPS and stop is not None:
        raise BinanceError(-1106, f"Parameter '{key('stopPrice')}' sent when not required.")
    if otype in NEEDS_TIF:
        if not tif:
            raise mandatory(key("timeInForce"))
        if tif not in ("GTC", "IOC", "FOK"):
            raise BinanceError(-1115, "Invalid timeInForce.")
    elif tif:
        raise BinanceError(-1106, f"Parameter '{key('timeInForce')}' sent when not required.")
    return OrderSpec(side=side, type=otype, tif=tif or "GTC", qty=qty or ZERO, price=price or ZERO,
                     stop_price=stop or ZERO, quote_qty=quote_qty or ZERO,
                     client_id=client_id_param(params, key("clientOrderId") if prefix else "newClientOrderId"))
