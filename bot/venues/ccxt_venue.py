"""``CcxtVenue``: one account on one exchange through unmodified ccxt async + ccxt.pro.

The same class serves a real exchange id with real credentials and the simulator; the only difference is
``url``, which rewrites the exchange's endpoints to a local Binance-wire server (``bot.venues.local``).
Every ccxt exception leaves this module as one of the outcomes in ``bot.venues.errors``.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

import ccxt
import ccxt.pro as ccxtpro

from bot.model import OrderStatus, OrderType, Side, TimeInForce
from bot.venues.base import Capabilities, VenueOrder, VenueTrade
from bot.venues.errors import Rejected, classify
from bot.venues.local import local_overrides
from bot.venues.ratelimit import OrderRateLimiter

_STATUS = {"closed": OrderStatus.FILLED, "canceled": OrderStatus.CANCELED, "expired": OrderStatus.EXPIRED,
           "rejected": OrderStatus.REJECTED}


def _dec(value: Any) -> Decimal | None:
    # ccxt hands back floats for some fields; go through str() so 0.1 stays 0.1.
    if value is None or value == "":
        return None
    return Decimal(str(value))


class CcxtVenue:
    def __init__(self, account: str, exchange_id: str, *, url: str | None = None, api_key: str | None = None,
                 secret: str | None = None, options: dict[str, Any] | None = None,
                 orders_per_10s: int = 90, timeout_ms: int = 10_000,
                 on_request: Callable[[str, float, str | None], None] = lambda method, seconds, error: None):
        self.account = account
        self.exchange_id = exchange_id
        cls = getattr(ccxtpro, exchange_id, None)
        if cls is None:
            raise ValueError(f"unknown ccxt exchange id {exchange_id!r}")
        config: dict[str, Any] = {"enableRateLimit": False, "timeout": timeout_ms, "apiKey": api_key,
                                  "secret": secret, "options": {"adjustForTimeDifference": True}}
        if url:
            local = local_overrides(cls, url)
            config["urls"] = local["urls"]
            config["options"].update(local["options"])
        user_options = dict(options or {})
        config["options"].update(user_options.pop("options", {}))
        config.update(user_options)
        self.exchange = cls(config)
        if url:
            # ccxt picks Binance's spot error table by URL prefix; a local URL would get the generic one.
            self.exchange.get_exceptions_by_url = lambda _url, _code: self.exchange.exceptions.get("exact", {})
        self.limiter = OrderRateLimiter(orders_per_10s)
        self.on_request = on_request      # (method, seconds, error kind or None): metrics
        self.capabilities = Capabilities()

    # -- lifecycle ----------------------------------------------------------------------------------

    async def connect(self) -> None:
        try:
            await self.exchange.load_markets()
        except Exception as exc:
            raise classify(exc, submit=False) from exc
        self.capabilities = self._capabilities()

    async def close(self) -> None:
        await self.exchange.close()

    def _capabilities(self) -> Capabilities:
        features = (self.exchange.features or {}).get("spot", {}) or {}
        create = features.get("createOrder", {}) or {}
        bracket = bool(create.get("attachedStopLossTakeProfit"))
        oco = hasattr(self.exchange, "private_post_orderlist_oco")
        trailing = bool(create.get("trailing"))
        types = {"MARKET", "LIMIT"}
        markets = list(self.exchange.markets.values())
        venue_types = set(markets[0].get("info", {}).get("orderTypes", [])) if markets else set()
        if "LIMIT_MAKER" in venue_types:
            types.add("LIMIT_MAKER")
        if {"STOP_LOSS", "STOP_LOSS_LIMIT"} & venue_types or self.exchange.has.get("createStopLossOrder"):
            types.update({"STOP", "STOP_LIMIT"})
        if trailing:
            types.add("TRAILING_STOP")
        names = [name for name, on in (("bracket_orders", bracket), ("oco", oco), ("trailing_stops", trailing)) if on]
        return Capabilities(bracket_orders=bracket, oco=oco, trailing_stops=trailing,
                            order_types=tuple(sorted(types)), features=tuple(names))

    async def resync_clock(self) -> None:
        await self.exchange.load_time_difference()

    # -- markets ------------------------------------------------------------------------------------

    def has_symbol(self, symbol: str) -> bool:
        return symbol in self.exchange.markets

    def amount_to_precision(self, symbol: str, amount: Decimal) -> Decimal:
        """Rounds down to the lot step (never up: a larger order than asked for is not ours to send).
        An amount below one step is zero (ccxt raises for it)."""
        if amount <= 0:
            return Decimal(0)
        try:
            return Decimal(self.exchange.amount_to_precision(symbol, str(amount)))
        except ccxt.InvalidOrder:
            return Decimal(0)

    def price_to_precision(self, symbol: str, price: Decimal) -> Decimal:
        return Decimal(self.exchange.price_to_precision(symbol, str(price)))

    def min_amount(self, symbol: str) -> Decimal:
        limits = self.exchange.markets[symbol].get("limits", {})
        return _dec((limits.get("amount") or {}).get("min")) or Decimal(0)

    # -- orders -------------------------------------------------------------------------------------

    async def _call(self, method: str, *args: Any, submit: bool = False, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            result = await getattr(self.exchange, method)(*args, **kwargs)
        except Exception as exc:
            retry_after = None
            headers = getattr(self.exchange, "last_response_headers", None) or {}
            if headers.get("Retry-After"):
                retry_after = float(headers["Retry-After"])
            error = classify(exc, submit=submit, retry_after=retry_after)
            if error.kind == "rate_limited":
                self.limiter.pause(error.retry_after)  # type: ignore[attr-defined]
            self.on_request(method, time.perf_counter() - started, error.kind)
            raise error from exc
        if not method.startswith("watch"):       # a watch waits for events: its duration is no latency
            self.on_request(method, time.perf_counter() - started, None)
        return result

    async def create_order(self, *, client_id: str, symbol: str, side: Side, order_type: OrderType,
                           quantity: Decimal, price: Decimal | None = None, stop_price: Decimal | None = None,
                           time_in_force: TimeInForce = TimeInForce.GTC) -> VenueOrder:
        params: dict[str, Any] = {"clientOrderId": client_id}
        ccxt_type = "market"
        if order_type in (OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.STOP_LIMIT, OrderType.TAKE_PROFIT_LIMIT):
            ccxt_type = "limit"
            params["timeInForce"] = time_in_force.value
        if order_type is OrderType.LIMIT_MAKER:
            params["postOnly"] = True
            params.pop("timeInForce")
        if order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
            params["stopLossPrice"] = str(stop_price)
        elif order_type in (OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT):
            params["takeProfitPrice"] = str(stop_price)
        await self.limiter.acquire()
        # A market order never carries a price: ccxt would turn a priced market BUY into quoteOrderQty.
        raw = await self._call("create_order", symbol, ccxt_type, side.value.lower(), str(quantity),
                               None if ccxt_type == "market" else str(price), params, submit=True)
        order = self._order(raw)
        return replace(order, trades=self._trades_of(raw, order))

    async def create_oco(self, *, list_client_id: str, tp_client_id: str, sl_client_id: str,
                         symbol: str, side: Side, quantity: Decimal, take_profit: Decimal,
                         stop_price: Decimal, stop_limit_price: Decimal) -> list[VenueOrder]:
        """A native OCO pair (Binance orderList/oco): take-profit LIMIT_MAKER and stop-loss STOP_LOSS_LIMIT."""
        market = self.exchange.market(symbol)
        tp_leg = {"Type": "LIMIT_MAKER", "Price": str(take_profit), "ClientOrderId": tp_client_id}
        sl_leg = {"Type": "STOP_LOSS_LIMIT", "StopPrice": str(stop_price), "Price": str(stop_limit_price),
                  "TimeInForce": "GTC", "ClientOrderId": sl_client_id}
        # Selling out of a long: the take-profit is above the market, the stop below; mirrored for shorts.
        above, below = (tp_leg, sl_leg) if side is Side.SELL else (sl_leg, tp_leg)
        request: dict[str, Any] = {"symbol": market["id"], "side": side.value, "quantity": str(quantity),
                                   "listClientOrderId": list_client_id, "newOrderRespType": "FULL"}
        request.update({f"above{k}": v for k, v in above.items()})
        request.update({f"below{k}": v for k, v in below.items()})
        await self.limiter.acquire()
        raw = await self._call("private_post_orderlist_oco", request, submit=True)
        reports = raw.get("orderReports") or []
        return [self._order(self.exchange.parse_order(report, market)) for report in reports]

    async def cancel_order(self, client_id: str, symbol: str) -> VenueOrder | None:
        """Cancels by client id; None when the venue no longer has it open (already final or unknown)."""
        raw = await self._unless_not_found("cancel_order", client_id, symbol)
        return self._order(raw, client_id=client_id) if raw is not None else None

    def _trades_of(self, raw: dict[str, Any], order: VenueOrder) -> tuple[VenueTrade, ...]:
        """Trades carried in a placement reply (Binance FULL ``fills``); ccxt leaves their order and side empty."""
        if order.side is None:
            return ()
        known = {"order": order.venue_order_id, "side": order.side.value.lower(), "symbol": order.symbol,
                 "info": {"c": order.client_id}}
        return tuple(self._trade({**trade, **known, "timestamp": trade.get("timestamp") or (
            order.ts * 1000 if order.ts else None)}) for trade in raw.get("trades") or [] if trade.get("id"))

    async def _unless_not_found(self, method: str, client_id: str, symbol: str) -> dict[str, Any] | None:
        """None on a definite "not found" (already final, or never there); any other failure raises."""
        try:
            return await self._call(method, None, symbol, {"origClientOrderId": client_id})
        except Rejected as exc:
            if exc.code == "ORDER_NOT_FOUND":
                return None
            raise

    async def fetch_order(self, client_id: str, symbol: str) -> VenueOrder | None:
        """The venue's view of our order; None only on a definite 'not found' (never on a network error)."""
        raw = await self._unless_not_found("fetch_order", client_id, symbol)
        return self._order(raw) if raw is not None else None

    async def fetch_open_orders(self, symbol: str) -> list[VenueOrder]:
        return [self._order(raw) for raw in await self._call("fetch_open_orders", symbol)]

    async def fetch_my_trades(self, symbol: str, since_ms: int | None = None) -> list[VenueTrade]:
        return [self._trade(raw) for raw in await self._call("fetch_my_trades", symbol, since_ms)]

    async def fetch_balance(self) -> dict[str, Decimal]:
        raw = await self._call("fetch_balance")
        return {asset: _dec(amount) or Decimal(0) for asset, amount in (raw.get("free") or {}).items()}

    async def fetch_quote(self, symbol: str) -> tuple[Decimal | None, Decimal | None, Decimal | None, float]:
        raw = await self._call("fetch_ticker", symbol)
        return self._quote(raw)

    # -- streams ------------------------------------------------------------------------------------

    async def open_user_stream(self) -> None:
        """Returns once the venue confirmed the user-data subscription, so no later fill can be missed.

        Binance subscribes on the ws-api; exchanges without an explicit step subscribe in the first watch.
        """
        subscribe = getattr(self.exchange, "ensure_user_data_stream_ws_subscribe_signature", None)
        if subscribe is not None:
            await self._call("ensure_user_data_stream_ws_subscribe_signature", "spot")

    def user_stream_listening(self) -> bool:
        """True once both watchers wait on the socket. ccxt delivers an event only to a watch call that is
        already waiting, so an event that comes before that is seen only at the next reconciliation."""
        return any({"orders", "myTrades"} <= set(client.futures) for client in self.exchange.clients.values())

    async def watch_orders(self) -> list[VenueOrder]:
        return [self._order(raw) for raw in await self._call("watch_orders")]

    async def watch_my_trades(self) -> list[VenueTrade]:
        return [self._trade(raw) for raw in await self._call("watch_my_trades")]

    async def watch_quote(self, symbol: str) -> tuple[Decimal | None, Decimal | None, Decimal | None, float]:
        """Best bid/ask from the venue's book-ticker stream (no last price: that stays as last known)."""
        tickers = await self._call("watch_bids_asks", [symbol])
        return self._quote(tickers[symbol])

    # -- parsing ------------------------------------------------------------------------------------

    @staticmethod
    def _quote(raw: dict[str, Any]) -> tuple[Decimal | None, Decimal | None, Decimal | None, float]:
        ts = raw.get("timestamp")
        return _dec(raw.get("bid")), _dec(raw.get("ask")), _dec(raw.get("last")), (ts / 1000 if ts else time.time())

    @staticmethod
    def _order(raw: dict[str, Any], client_id: str | None = None) -> VenueOrder:
        info = raw.get("info") or {}
        # After a cancel, ccxt's clientOrderId is the cancel request's own id; the order's is origClientOrderId.
        client = info.get("origClientOrderId") or client_id or raw.get("clientOrderId")
        filled = _dec(raw.get("filled")) or Decimal(0)
        status = _STATUS.get(raw.get("status") or "", OrderStatus.OPEN)
        if status is OrderStatus.OPEN and filled > 0:
            status = OrderStatus.PARTIALLY_FILLED
        side = raw.get("side")
        ts = raw.get("lastUpdateTimestamp") or raw.get("timestamp")
        return VenueOrder(client_id=client, venue_order_id=str(raw["id"]) if raw.get("id") is not None else None,
                          symbol=raw.get("symbol") or "", status=status, filled=filled,
                          average_price=_dec(raw.get("average")), side=Side(side.upper()) if side else None,
                          quantity=_dec(raw.get("amount")), order_type=info.get("type") or raw.get("type"),
                          price=_dec(raw.get("price")), ts=ts / 1000 if ts else None)

    @staticmethod
    def _trade(raw: dict[str, Any]) -> VenueTrade:
        fee = raw.get("fee") or {}
        info = raw.get("info") or {}
        ts = raw.get("timestamp")
        return VenueTrade(trade_id=str(raw["id"]), venue_order_id=str(raw["order"]) if raw.get("order") else None,
                          client_id=info.get("c") or info.get("clientOrderId"), symbol=raw["symbol"],
                          side=Side(raw["side"].upper()), quantity=_dec(raw["amount"]) or Decimal(0),
                          price=_dec(raw["price"]) or Decimal(0), fee=_dec(fee.get("cost")) or Decimal(0),
                          fee_currency=fee.get("currency"), ts=ts / 1000 if ts else time.time())

