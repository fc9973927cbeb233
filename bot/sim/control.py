"""Control API under /_sim/ for tests and demos: state, price moves, faults, ws drops, balances, reset.

Served on the same loopback listener as the exchange; requests from anywhere but loopback are refused.
"""
from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from aiohttp import web

from .market import fmt

if TYPE_CHECKING:
    from .server import SimServer


def _json(body, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(body, separators=(",", ":")), status=status, content_type="application/json")


def _error(message: str, status: int = 400) -> web.Response:
    return _json({"error": message}, status)


class Control:
    def __init__(self, server: "SimServer"):
        self.server = server

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/_sim/state", self.state),
            web.post("/_sim/price", self.price),
            web.post("/_sim/faults", self.set_faults),
            web.get("/_sim/faults", self.get_faults),
            web.delete("/_sim/faults", self.clear_faults),
            web.post("/_sim/ws/drop", self.drop),
            web.post("/_sim/balances", self.balances),
            web.post("/_sim/reset", self.reset),
        ]

    @web.middleware
    async def loopback_only(self, request: web.Request, handler):
        if request.path.startswith("/_sim/") and request.remote not in ("127.0.0.1", "::1"):
            return _error("control API is loopback only", 403)
        return await handler(request)

    async def _body(self, request: web.Request):
        try:
            return await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text=json.dumps({"error": "body must be JSON"}), content_type="application/json")

    async def state(self, request: web.Request) -> web.Response:
        engine = self.server.engine
        orders = [{
            "orderId": o.order_id, "clientOrderId": o.client_id, "symbol": o.market.symbol, "side": o.side,
            "type": o.type, "timeInForce": o.tif, "status": o.status, "origQty": fmt(o.qty),
            "executedQty": fmt(o.executed), "cummulativeQuoteQty": fmt(o.cum_quote), "price": fmt(o.price),
            "stopPrice": fmt(o.stop_price), "orderListId": o.list_id, "time": o.time, "updateTime": o.update_time,
        } for o in sorted(engine.orders.values(), key=lambda o: o.order_id)]
        trades = [{
            "id": t.id, "orderId": t.order_id, "symbol": t.market.symbol, "price": fmt(t.price), "qty": fmt(t.qty),
            "commission": fmt(t.commission), "commissionAsset": t.commission_asset, "isBuyer": t.is_buyer,
            "isMaker": t.is_maker, "time": t.time,
        } for t in engine.trades]
        balances = {a: {"free": fmt(v["free"]), "locked": fmt(v["locked"])}
                    for a, v in engine.account.snapshot().items()}
        prices = {m.symbol: fmt(m.mid) for m in engine.data.markets.values()}
        return _json({"orders": orders, "trades": trades, "balances": balances, "prices": prices})

    async def price(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        market = self.server.engine.data.markets.get(str(body.get("symbol")))
        if market is None:
            return _error(f"unknown symbol {body.get('symbol')!r}")
        try:
            price = Decimal(str(body["price"]))
        except (KeyError, InvalidOperation):
            return _error("price must be a decimal string")
        if price <= 0:
            return _error("price must be positive")
        self.server.engine.set_price(market, price)
        return _json({"symbol": market.symbol, "price": fmt(market.mid)})

    async def set_faults(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        try:
            self.server.faults.set(body.get("rules", []))
        except (TypeError, ValueError) as exc:
            return _error(str(exc))
        return _json({"rules": self.server.faults.describe()})

    async def get_faults(self, request: web.Request) -> web.Response:
        return _json({"rules": self.server.faults.describe()})

    async def clear_faults(self, request: web.Request) -> web.Response:
        self.server.faults.clear()
        return _json({"rules": []})

    async def drop(self, request: web.Request) -> web.Response:
        return _json({"dropped": await self.server.streams.drop_user_streams()})

    async def balances(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        try:
            values = {asset: Decimal(str(amount)) for asset, amount in body.items()}
        except (InvalidOperation, AttributeError):
            return _error("balances must map asset to decimal string")
        engine = self.server.engine
        for asset, amount in values.items():
            engine.account.set(asset, amount)
            engine._touch(asset)
        engine.flush()
        return _json({a: fmt(v["free"]) for a, v in engine.account.snapshot().items()})

    async def reset(self, request: web.Request) -> web.Response:
        self.server.reset()
        return _json({"reset": True})
