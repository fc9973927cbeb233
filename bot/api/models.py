"""Request and response models of the HTTP API. Handlers validate with these exact classes and
``/openapi.json`` is generated from them, so the description cannot drift from what is enforced.

Requests are strict (unknown fields are errors, no type coercion); money and quantities are decimal strings.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DECIMAL_PATTERN = r"^[0-9]{1,20}(\.[0-9]{1,18})?$"
SYMBOL_PATTERN = r"^[A-Z0-9]{1,20}/[A-Z0-9]{1,20}$"
URL_PATTERN = r"^https?://[^\s/$.?#][^\s]{0,2040}$"

DecimalString = Annotated[str, Field(pattern=DECIMAL_PATTERN, max_length=40,
                                     description="a non-negative decimal number as a string",
                                     examples=["0.01"])]
OrderTypeName = Literal["MARKET", "LIMIT", "STOP", "STOP_LIMIT", "TRAILING_STOP", "LIMIT_MAKER"]
StatusName = Literal["PENDING", "OPEN", "PARTIALLY_FILLED", "FILLED", "CANCELED", "REJECTED", "EXPIRED"]


def positive(value: str | None, field: str) -> Decimal | None:
    if value is None:
        return None
    number = Decimal(value)
    if number <= 0:
        raise ValueError(f"{field} must be greater than 0")
    return number


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Open(BaseModel):
    """Response models: documentation and conformance checks; extra fields may be added later."""
    model_config = ConfigDict(extra="allow")


# -- requests ----------------------------------------------------------------------------------------------

class OrderRequest(Strict):
    """``POST /v1/orders``. ``client_order_id`` (or the ``Idempotency-Key`` header) makes the request
    idempotent: the same key with the same body returns the existing order, with another body 409."""

    symbol: str = Field(pattern=SYMBOL_PATTERN, description="ccxt unified symbol", examples=["BTC/USDT"])
    side: Literal["BUY", "SELL"]
    quantity: DecimalString = Field(description="base-currency quantity (rounded down to the venue's lot step)")
    order_type: OrderTypeName = "MARKET"
    limit_price: DecimalString | None = Field(None, description="required for LIMIT, LIMIT_MAKER, STOP_LIMIT")
    stop_price: DecimalString | None = Field(None, description="required for STOP, STOP_LIMIT")
    trail_percent: DecimalString | None = Field(None, description="required for TRAILING_STOP")
    stop_loss: DecimalString | None = Field(None, description="protective stop-loss trigger price")
    take_profit: DecimalString | list[DecimalString] | None = Field(
        None, description="one take-profit price, or a ladder split evenly over the filled quantity")
    time_in_force: Literal["GTC", "IOC", "FOK"] = "GTC"
    client_order_id: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[\x20-\x7e]+$",
                                        description="your idempotency key for this order, at most 64 characters")
    account: str | None = Field(None, min_length=1, max_length=64,
                                description="trading account (default: the first configured)")
    callback_url: str | None = Field(None, pattern=URL_PATTERN,
                                     description="receives this order's signed webhooks (Standard Webhooks)")

    @field_validator("take_profit")
    @classmethod
    def _ladder_size(cls, value: Any) -> Any:
        if isinstance(value, list) and not 1 <= len(value) <= 10:
            raise ValueError("take_profit: give 1 to 10 prices")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "OrderRequest":
        positive(self.quantity, "quantity")
        for name in ("limit_price", "stop_price", "trail_percent", "stop_loss"):
            positive(getattr(self, name), name)
        for price in self.take_profit_prices:
            positive(price, "take_profit")
        needs = {"LIMIT": ["limit_price"], "LIMIT_MAKER": ["limit_price"], "STOP": ["stop_price"],
                 "STOP_LIMIT": ["limit_price", "stop_price"], "TRAILING_STOP": ["trail_percent"]}
        for name in needs.get(self.order_type, []):
            if getattr(self, name) is None:
                raise ValueError(f"{name} is required for {self.order_type} orders")
        if self.order_type == "MARKET" and self.limit_price is not None:
            raise ValueError("limit_price is not allowed for MARKET orders")
        return self

    @property
    def take_profit_prices(self) -> list[str]:
        if self.take_profit is None:
            return []
        return list(self.take_profit) if isinstance(self.take_profit, list) else [self.take_profit]


class HaltRequest(Strict):
    flatten: bool = Field(False, description="also cancel every open order and close every position")
    account: str | None = Field(None, min_length=1, max_length=64, description="one account (default: all)")


class ResumeRequest(Strict):
    account: str | None = Field(None, min_length=1, max_length=64, description="one account (default: all)")


class HummingbotTradeRequest(BaseModel):
    """hummingbot-api ``TradeRequest`` (``POST /trading/orders``); amounts may be JSON numbers there."""

    model_config = ConfigDict(extra="forbid")
    account_name: str = Field(min_length=1, max_length=64)
    connector_name: str = Field(min_length=1, max_length=64)
    trading_pair: str = Field(pattern=r"^[A-Z0-9]{1,20}-[A-Z0-9]{1,20}$", examples=["BTC-USDT"])
    trade_type: Literal["BUY", "SELL"]
    amount: Decimal = Field(gt=0, max_digits=38)
    order_type: Literal["LIMIT", "MARKET", "LIMIT_MAKER"] = "LIMIT"
    price: Decimal | None = Field(None, gt=0, max_digits=38)
    position_action: Literal["OPEN", "CLOSE"] = "OPEN"

    @model_validator(mode="after")
    def _price(self) -> "HummingbotTradeRequest":
        if self.order_type in ("LIMIT", "LIMIT_MAKER") and self.price is None:
            raise ValueError("price is required for LIMIT and LIMIT_MAKER orders")
        return self


# -- query strings -----------------------------------------------------------------------------------------

class Query(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrderListQuery(Query):
    client_order_id: str | None = Field(None, min_length=1, max_length=64)
    venue_client_id: str | None = Field(None, min_length=1, max_length=64)
    status: Literal["open", "PENDING", "OPEN", "PARTIALLY_FILLED", "FILLED", "CANCELED", "REJECTED",
                    "EXPIRED"] | None = None
    symbol: str | None = Field(None, pattern=SYMBOL_PATTERN)
    account: str | None = Field(None, min_length=1, max_length=64)
    limit: int = Field(100, ge=1, le=500)
    cursor: str | None = Field(None, min_length=1, max_length=64, description="`next` from the previous page")


class SignalListQuery(Query):
    source: str | None = Field(None, min_length=1, max_length=64)
    status: Literal["RECEIVED", "ACCEPTED", "REJECTED", "INVALID"] | None = None
    limit: int = Field(100, ge=1, le=500)


class AccountQuery(Query):
    account: str | None = Field(None, min_length=1, max_length=64)


class StreamQuery(Query):
    key: str | None = Field(None, description="API key (browsers cannot set headers on websockets)")
    types: str | None = Field(None, description="comma-separated event types (default: all)")


class StatusPageQuery(Query):
    key: str | None = None


# -- responses ---------------------------------------------------------------------------------------------

class ErrorBody(Open):
    code: str
    message: str
    details: Any = None
    correlation_id: str


class OrderHandle(Open):
    id: str
    status: StatusName
    client_order_id: str | None


class Origin(Open):
    kind: str
    source: str | None = None
    ref: str | None = None
    key_name: str | None = None
    ip: str | None = None
    correlation_id: str | None = None
    signal_key: str | None = None


class FillView(Open):
    trade_id: str
    quantity: str
    price: str
    fee: str
    fee_currency: str | None
    ts: float


class OrderEvent(Open):
    seq: int
    ts: float
    kind: str
    from_status: str | None
    to_status: str | None
    detail: Any = None


class OrderSummary(Open):
    id: str
    client_order_id: str | None
    venue_client_id: str
    venue_order_id: str | None
    account: str
    symbol: str
    side: Literal["BUY", "SELL"]
    order_type: str
    quantity: str
    limit_price: str | None
    stop_price: str | None
    time_in_force: str
    status: StatusName
    filled_quantity: str
    average_price: str | None
    leg: str
    parent_id: str | None
    error: str | None
    created_at: str | None
    updated_at: str | None
    origin: Origin


class OrderDetail(OrderSummary):
    stop_loss: str | None
    take_profit: list[list[str]]
    fills: list[FillView]
    legs: list[OrderSummary]
    events: list[OrderEvent]


class OrderList(Open):
    orders: list[OrderSummary]
    next: str | None


class AccountCapabilities(Open):
    venue: str
    features: list[str]
    order_types: list[str]
    time_in_force: list[str]


class CapabilitiesView(Open):
    features: list[str]
    accounts: dict[str, AccountCapabilities]


class PositionView(Open):
    account: str
    symbol: str
    quantity: str
    average_entry: str
    realized_pnl: str
    unrealized_pnl: str | None
    mark_price: str | None
    protection: list[OrderSummary]


class PositionList(Open):
    positions: list[PositionView]


class BalanceList(Open):
    balances: dict[str, dict[str, str]]


class SignalView(Open):
    key: str
    source: str
    signal_id: str
    status: str
    code: str | None
    detail: str | None
    received_at: float | None
    decided_at: float | None
    policy_hash: str | None
    orders: list[str]


class SignalList(Open):
    signals: list[SignalView]


class SignalResultView(Open):
    key: str
    status: Literal["ACCEPTED", "REJECTED", "INVALID", "DUPLICATE", "RECEIVED"]
    code: str | None
    detail: str | None
    orders: list[str]


class BreakerView(Open):
    name: str
    kind: str
    state: str
    since: float | None = None
    reason: str | None = None


class BreakerList(Open):
    breakers: list[BreakerView]
    trading_states: dict[str, str]


class TradingStateView(Open):
    trading_states: dict[str, str]


class HaltResult(Open):
    trading_states: dict[str, str]
    flatten: Literal["none", "done", "in_progress"]
    orders: list[OrderHandle]


class PolicyReloadResult(Open):
    hash: str
    path: str


class DeadLetter(Open):
    id: str
    event_type: str
    url: str
    key_name: str | None
    attempts: int
    last_error: str | None
    created_at: float
    payload: Any


class DeadLetterList(Open):
    dead_letters: list[DeadLetter]


class WebhookRetry(Open):
    id: str
    status: Literal["pending"]


class WebhookSecret(Open):
    key_name: str
    secret: str = Field(description="whsec_… signing secret for your webhooks (Standard Webhooks)")
    url: str | None = Field(description="the key's configured webhook URL, if any")


class Health(Open):
    status: str


class Readiness(Open):
    ready: bool


class HummingbotTradeResponse(Open):
    order_id: str
    account_name: str
    connector_name: str
    trading_pair: str
    trade_type: str
    amount: str
    order_type: str
    price: str | None
    status: str
