"""The Binance Spot REST API under /api/v3/: parameter parsing, HMAC auth, weights, faults, handlers.

Signed requests are verified against the raw, still-encoded query string (GET/DELETE) or form body (POST),
exactly the bytes the client signed. Errors are Binance JSON ``{"code", "msg"}`` with Binance's status.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import parse_qsl

from aiohttp import web

from . import stats, wire
from .engine import Engine
from .errors import BinanceError, mandatory
from .faults import FaultRule, Faults
from .limits import Limits
from .market import fmt
from .orders import parse_spec


def dumps(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"))


@dataclass
class Route:
    handler: Callable[[dict], Any]
    signed: bool = False
    weight: int = 1
    orders: int = 0          # how many new orders the call adds to the 10 s order count


class RestApi:
    def __init__(self, engine: Engine, limits: Limits, faults: Faults, stopping: asyncio.Event):
        self.engine = engine
        self.config = engine.config
        self.limits = limits
        self.faults = faults
        self.stopping = stopping
        self.routes: dict[tuple[str, str], Route] = {
            ("GET", "ping"): Route(lambda p: {}),
            ("GET", "time"): Route(lambda p: {"serverTime": self.engine.clock()}),
            ("GET", "exchangeInfo"): Route(self.exchange_info, weight=20),
            ("GET", "ticker/24hr"): Route(self.ticker_24hr, weight=2),
            ("GET", "ticker/price"): Route(self.ticker_price, weight=2),
            ("GET", "ticker/bookTicker"): Route(self.book_ticker, weight=2),
            ("GET", "avgPrice"): Route(self.avg_price, weight=2),
            ("GET", "depth"): Route(self.depth, weight=5),
            ("GET", "klines"): Route(self.klines, weight=2),
            ("GET", "account"): Route(self.account, signed=True, weight=20),
            ("POST", "order"): Route(self.new_order, signed=True, orders=1),
            ("POST", "order/test"): Route(self.test_order, signed=True),
            ("GET", "order"): Route(self.get_order, signed=True, weight=4),
            ("DELETE", "order"): Route(self.engine.cancel, signed=True),
            ("GET", "openOrders"): Route(self.open_orders, signed=True, weight=6),
            ("DELETE", "openOrders"): Route(self.engine.cancel_all, signed=True),
            ("GET", "allOrders"): Route(self.all_orders, signed=True, weight=20),
            ("GET", "myTrades"): Route(self.my_trades, signed=True, weight=20),
            ("POST", "orderList/oco"): Route(self.engine.place_oco, signed=True, orders=2),
            ("GET", "orderList"): Route(self.get_order_list, signed=True, weight=4),
            ("DELETE", "orderList"): Route(self.engine.cancel_list, signed=True),
            ("GET", "rateLimit/order"): Route(self.rate_limit_order, signed=True, weight=40),
        }

    # ----- plumbing -------------------------------------------------------------------------------
    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["tail"]
        route = self.routes.get((request.method, name))
        if route is None:
            return web.Response(status=404, text="Not Found")
        headers = {"X-MBX-USED-WEIGHT-1M": str(self.limits.add_weight(route.weight))}
        raw_query = request.raw_path.partition("?")[2]
        raw_body = (await request.text()) if request.can_read_body else ""
        try:
            params = self._params(raw_query, raw_body)
            fault = self.faults.pick(request.method, request.path, params)
            if fault is not None:
                early = await self._fault_before(fault, params)
                if early is not None:
                    return early
            if route.signed:
                self._authenticate(request, raw_query + raw_body, params)
            if route.orders:
                headers["X-MBX-ORDER-COUNT-10S"] = str(self.limits.take_orders(route.orders))
            result = route.handler(params)
            if fault is not None and fault.fault == "timeout_after_accept":
                await self._hang()
                return web.Response(status=504)
            return web.Response(text=dumps(result), content_type="application/json", headers=headers)
        except BinanceError as exc:
            return web.Response(text=dumps(exc.body()), status=exc.status, content_type="application/json",
                                headers=headers | exc.headers)

    @staticmethod
    def _params(raw_query: str, raw_body: str) -> dict[str, str]:
        params: dict[str, str] = {}
        # Binance: a parameter in both the query string and the body takes the query string's value.
        for raw in (raw_body, raw_query):
            seen: set[str] = set()
            for key, value in parse_qsl(raw, keep_blank_values=True):
                if key in seen:
                    raise BinanceError(-1101, "Duplicate values for a parameter detected.")
                seen.add(key)
                params[key] = value
        return params

    async def _hang(self) -> None:
        # Hold the request open: the client times out, the outcome stays unknown to it.
        await self.stopping.wait()

    async def _fault_before(self, fault: FaultRule, params: dict) -> web.Response | None:
        kind = fault.fault
        if kind == "delay":
            await asyncio.sleep(fault.delay_ms / 1000)
        elif kind == "http_500":
            return web.Response(status=500, text="Internal Server Error")
        elif kind == "http_503":
            return web.Response(status=503, text="Service Unavailable")
        elif kind == "http_429":
            body = {"code": -1003, "msg": "Too much request weight used; current limit is 6000 request weight "
                                          "per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API."}
            return web.Response(status=429, text=dumps(body), content_type="application/json",
                                headers={"Retry-After": "1"})
        elif kind == "reject":
            body = {"code": fault.code, "msg": fault.reject_message(params)}
            return web.Response(status=400, text=dumps(body), content_type="application/json")
        elif kind == "timeout_before_accept":
            await self._hang()
            return web.Response(status=504)
        return None

    def _authenticate(self, request: web.Request, raw: str, params: dict) -> None:
        key = request.headers.get("X-MBX-APIKEY")
        if not key:
            raise BinanceError(-2014, "API-key format invalid.", status=401)
        if key != self.config.api_key:
            raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", status=401)
        signature = params.get("signature")
        if not signature:
            raise mandatory("signature")
        # Everything before "&signature=" is what was signed (ccxt appends the signature last).
        cut = raw.find("&signature=")
        payload = raw[:cut] if cut >= 0 else ""
        expected = hmac.new(self.config.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise BinanceError(-1022, "Signature for this request is not valid.")
        check_timestamp(params, self.engine.clock())

    # ----- public market data ---------------------------------------------------------------------
    def _markets(self, params: dict) -> list:
        if params.get("symbol"):
            return [self.engine.market(params["symbol"])]
        if params.get("symbols"):
            try:
                ids = json.loads(params["symbols"])
            except ValueError:
                raise BinanceError(-1100, "Illegal characters found in parameter 'symbols'; legal range is '^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]{1,20}\"){0,}){0,1}\\]$'.")
            return [self.engine.market(i) for i in ids]
        return list(self.engine.data.markets.values())

    def _one_or_many(self, params: dict, render: Callable) -> Any:
        items = [render(m) for m in self._markets(params)]
        return items[0] if params.get("symbol") else items

    def exchange_info(self, params: dict) -> dict:
        cfg = self.config
        symbols = []
        for market in self._markets(params):
            symbols.append({
                "symbol": market.id, "status": "TRADING", "baseAsset": market.base, "baseAssetPrecision": 8,
                "quoteAsset": market.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
                "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
                "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
                               "TAKE_PROFIT_LIMIT"],
                "icebergAllowed": False, "ocoAllowed": True, "otoAllowed": False, "opoAllowed": False,
                "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": False, "cancelReplaceAllowed": False,
                "amendAllowed": False, "pegInstructionsAllowed": False, "isSpotTradingAllowed": True,
                "isMarginTradingAllowed": False, "filters": market.filters.wire(), "permissions": [],
                "permissionSets": [["SPOT"]], "defaultSelfTradePreventionMode": "NONE",
                "allowedSelfTradePreventionModes": ["NONE"],
            })
        return {
            "timezone": "UTC", "serverTime": self.engine.clock(),
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": int(cfg.order_rate_window),
                 "limit": cfg.order_rate_limit},
                {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
            ],
            "exchangeFilters": [], "symbols": symbols,
        }

    def ticker_24hr(self, params: dict) -> Any:
        now = self.engine.clock()
        return self._one_or_many(params, lambda m: stats.ticker_24hr(m, now))

    def ticker_price(self, params: dict) -> Any:
        return self._one_or_many(params, lambda m: {"symbol": m.id, "price": fmt(m.last)})

    def book_ticker(self, params: dict) -> Any:
        return self._one_or_many(params, stats.book_ticker)

    def avg_price(self, params: dict) -> dict:
        market = self.engine.market(params.get("symbol"))
        return {"mins": 5, "price": fmt(market.mid), "closeTime": self.engine.clock()}

    def depth(self, params: dict) -> dict:
        market = self.engine.market(params.get("symbol"))
        limit = min(int_param(params, "limit", 100), 5000)
        bids, asks = stats.depth_levels(market, limit)
        return {"lastUpdateId": market.update_id, "bids": bids, "asks": asks}

    def klines(self, params: dict) -> list:
        market = self.engine.market(params.get("symbol"))
        interval = params.get("interval")
        if not interval:
            raise mandatory("interval")
        if interval not in stats.INTERVALS_MS:
            raise BinanceError(-1120, "Invalid interval.")
        limit = min(int_param(params, "limit", 500), 1000)
        start = int_param(params, "startTime", None)
        end = int_param(params, "endTime", None)
        return stats.klines(market, stats.INTERVALS_MS[interval], start, end, limit)

    # ----- account and orders ---------------------------------------------------------------------
    def account(self, params: dict) -> dict:
        acct = self.engine.account
        omit_zero = params.get("omitZeroBalances") == "true"
        balances = [{"asset": a, "free": fmt(v["free"]), "locked": fmt(v["locked"])}
                    for a, v in acct.snapshot().items() if not (omit_zero and not v["free"] and not v["locked"])]
        fee = lambda rate: fmt(rate)  # noqa: E731
        return {
            "makerCommission": int(self.config.maker_fee * 10000), "takerCommission": int(self.config.taker_fee * 10000),
            "buyerCommission": 0, "sellerCommission": 0,
            "commissionRates": {"maker": fee(self.config.maker_fee), "taker": fee(self.config.taker_fee),
                                "buyer": fmt(None), "seller": fmt(None)},
            "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
            "requireSelfTradePrevention": False, "preventSor": False, "updateTime": acct.update_time,
            "accountType": "SPOT", "balances": balances, "permissions": ["SPOT"], "uid": 1,
        }

    def new_order(self, params: dict) -> dict:
        order, fills = self.engine.place(params)
        default = "FULL" if order.type in ("MARKET", "LIMIT") else "ACK"
        resp_type = params.get("newOrderRespType") or default
        if resp_type not in ("ACK", "RESULT", "FULL"):
            raise BinanceError(-1100, "Illegal characters found in parameter 'newOrderRespType'.")
        return wire.order_result(order, resp_type, fills)

    def test_order(self, params: dict) -> dict:
        market = self.engine.market(params.get("symbol"))
        self.engine._check(market, parse_spec(params))
        return {}

    def get_order(self, params: dict) -> dict:
        market = self.engine.market(params.get("symbol"))
        order = self.engine.find(market, params)
        if order is None:
            raise BinanceError(-2013, "Order does not exist.")
        return wire.order_query(order)

    def open_orders(self, params: dict) -> list:
        market = self.engine.market(params["symbol"]) if params.get("symbol") else None
        orders = sorted(self.engine.open_orders(market), key=lambda o: o.order_id)
        return [wire.order_query(o) for o in orders]

    def all_orders(self, params: dict) -> list:
        market = self.engine.market(params.get("symbol"))
        from_id = int_param(params, "orderId", None)
        start, end = int_param(params, "startTime", None), int_param(params, "endTime", None)
        limit = min(int_param(params, "limit", 500), 1000)
        orders = [o for o in self.engine.orders.values() if o.market is market
                  and (from_id is None or o.order_id >= from_id)
                  and (start is None or o.time >= start) and (end is None or o.time <= end)]
        orders.sort(key=lambda o: o.order_id)
        orders = orders[:limit] if from_id is not None else orders[-limit:]
        return [wire.order_query(o) for o in orders]

    def my_trades(self, params: dict) -> list:
        market = self.engine.market(params.get("symbol"))
        order_id = int_param(params, "orderId", None)
        from_id = int_param(params, "fromId", None)
        start, end = int_param(params, "startTime", None), int_param(params, "endTime", None)
        limit = min(int_param(params, "limit", 500), 1000)
        trades = [t for t in self.engine.trades if t.market is market
                  and (order_id is None or t.order_id == order_id) and (from_id is None or t.id >= from_id)
                  and (start is None or t.time >= start) and (end is None or t.time <= end)]
        trades = trades[:limit] if (from_id is not None or start is not None) else trades[-limit:]
        return [wire.my_trade(t) for t in trades]

    def get_order_list(self, params: dict) -> dict:
        order_list = self.engine.find_list(params)
        if order_list is None:
            raise BinanceError(-2011, "Order list does not exist.")
        return wire.list_status(order_list, self.engine.clock())

    def rate_limit_order(self, params: dict) -> list:
        return [{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": int(self.config.order_rate_window),
                 "limit": self.config.order_rate_limit, "count": self.limits.order_count()}]


def int_param(params: dict, name: str, default: int | None) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.")


def check_timestamp(params: dict, server_ms: int) -> None:
    """Binance's rule: accept when timestamp < server + 1000 and server - timestamp <= recvWindow."""
    raw_ts = params.get("timestamp")
    if not raw_ts:
        raise mandatory("timestamp")
    try:
        timestamp = int(raw_ts)
        recv_window = float(params.get("recvWindow") or 5000)
    except ValueError:
        raise BinanceError(-1100, "Illegal characters found in parameter 'timestamp'; legal range is '^[0-9]{1,20}$'.")
    if timestamp > 10**14:          # microseconds
        timestamp //= 1000
    if recv_window > 60000:
        raise BinanceError(-1131, "recvWindow must be less than 60000")
    if timestamp >= server_ms + 1000:
        raise BinanceError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if server_ms - timestamp > recv_window:
        raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")
