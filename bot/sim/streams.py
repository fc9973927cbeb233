"""Websockets: the ws-api user data stream (/ws-api/v3) and the public market streams (/ws, /stream).

Each connection has a queue drained by its own sender task, so the engine can announce events
synchronously (no await inside matching) while each socket still receives them in order.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
from typing import Any

from aiohttp import WSMsgType, web

from . import stats
from .engine import Engine
from .errors import BinanceError
from .market import Market, fmt
from .rest import check_timestamp

STREAM_RE = re.compile(r"^([a-z0-9]+)@(trade|aggTrade|ticker|miniTicker|bookTicker|depth(5|10|20)?(@100ms|@1000ms)?)$")


class Conn:
    def __init__(self, ws: web.WebSocketResponse, request: web.Request):
        self.ws = ws
        self.request = request
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.task = asyncio.ensure_future(self._drain())

    def send(self, text: str) -> None:
        self.queue.put_nowait(text)

    async def _drain(self) -> None:
        try:
            while True:
                text = await self.queue.get()
                if text is None or self.ws.closed:
                    return
                await self.ws.send_str(text)
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            return

    async def close(self, code: int = 1001) -> None:
        self.queue.put_nowait(None)
        if not self.ws.closed:
            await self.ws.close(code=code)
        self.task.cancel()


class UserConn(Conn):
    def __init__(self, ws, request):
        super().__init__(ws, request)
        self.subscriptions: list[int] = []
        self._next_id = 0


class PublicConn(Conn):
    def __init__(self, ws, request, combined: bool):
        super().__init__(ws, request)
        self.combined = combined
        self.streams: set[str] = set()


class Streams:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.config = engine.config
        self.user_conns: set[UserConn] = set()
        self.public_conns: set[PublicConn] = set()
        # symbol id -> (u, bids, asks) as last published; seeded with the current book, so the first diff
        # also removes levels a client may hold from a REST snapshot taken before it
        self._published: dict[str, tuple[int, dict, dict]] = {
            m.id: (m.update_id, _levels(m.bids), _levels(m.asks)) for m in engine.data.markets.values()}
        engine.listeners.append(self.on_event)

    # ----- engine events --------------------------------------------------------------------------
    def on_event(self, kind: str, market: Market | None, payload: Any) -> None:
        if kind == "user":
            for conn in self.user_conns:
                for sid in conn.subscriptions:
                    conn.send(json.dumps({"subscriptionId": sid, "event": payload}, separators=(",", ":")))
        elif kind == "trade":
            self._trade(market, payload)
        elif kind == "book":
            self._book(market)

    def _wanted(self, stream: str) -> list[PublicConn]:
        return [c for c in self.public_conns if stream in c.streams]

    def _publish(self, conns: list[PublicConn], stream: str, data: dict) -> None:
        raw = json.dumps(data, separators=(",", ":"))
        wrapped = None
        for conn in conns:
            if conn.combined:
                wrapped = wrapped or json.dumps({"stream": stream, "data": data}, separators=(",", ":"))
                conn.send(wrapped)
            else:
                conn.send(raw)

    def _trade(self, market: Market, trade: dict) -> None:
        now, lid = self.engine.clock(), market.id.lower()
        conns = self._wanted(f"{lid}@trade")
        if conns:
            self._publish(conns, f"{lid}@trade", {
                "e": "trade", "E": now, "s": market.id, "t": trade["id"], "p": fmt(trade["price"]),
                "q": fmt(trade["qty"]), "T": trade["time"], "m": trade["buyer_maker"], "M": True})
        conns = self._wanted(f"{lid}@aggTrade")
        if conns:
            self._publish(conns, f"{lid}@aggTrade", {
                "e": "aggTrade", "E": now, "s": market.id, "a": trade["id"], "p": fmt(trade["price"]),
                "q": fmt(trade["qty"]), "f": trade["id"], "l": trade["id"], "T": trade["time"],
                "m": trade["buyer_maker"], "M": True})

    def _book(self, market: Market) -> None:
        now, lid = self.engine.clock(), market.id.lower()
        bids, asks = _levels(market.bids), _levels(market.asks)
        last_u, old_bids, old_asks = self._published.get(market.id, (market.update_id - 1, {}, {}))
        self._published[market.id] = (market.update_id, bids, asks)
        if market.update_id <= last_u:
            return
        # Diff depth: U continues from the last published u, so a local book stays consistent.
        diff = {"e": "depthUpdate", "E": now, "s": market.id, "U": last_u + 1, "u": market.update_id,
                "b": _diff(old_bids, bids), "a": _diff(old_asks, asks)}
        for suffix in ("depth", "depth@100ms", "depth@1000ms"):
            conns = self._wanted(f"{lid}@{suffix}")
            if conns:
                self._publish(conns, f"{lid}@{suffix}", diff)
        for levels in (5, 10, 20):
            for suffix in ("", "@100ms", "@1000ms"):
                stream = f"{lid}@depth{levels}{suffix}"
                conns = self._wanted(stream)
                if conns:
                    top_bids, top_asks = stats.depth_levels(market, levels)
                    self._publish(conns, stream, {"lastUpdateId": market.update_id, "bids": top_bids,
                                                  "asks": top_asks})
        conns = self._wanted(f"{lid}@bookTicker")
        if conns:
            ticker = stats.book_ticker(market)
            self._publish(conns, f"{lid}@bookTicker", {
                "u": market.update_id, "s": market.id, "b": ticker["bidPrice"], "B": ticker["bidQty"],
                "a": ticker["askPrice"], "A": ticker["askQty"]})
        ticker_conns, mini_conns = self._wanted(f"{lid}@ticker"), self._wanted(f"{lid}@miniTicker")
        if ticker_conns or mini_conns:
            t = stats.ticker_24hr(market, now)
            if ticker_conns:
                self._publish(ticker_conns, f"{lid}@ticker", {
                    "e": "24hrTicker", "E": now, "s": market.id, "p": t["priceChange"],
                    "P": t["priceChangePercent"], "w": t["weightedAvgPrice"], "x": t["prevClosePrice"],
                    "c": t["lastPrice"], "Q": t["lastQty"], "b": t["bidPrice"], "B": t["bidQty"],
                    "a": t["askPrice"], "A": t["askQty"], "o": t["openPrice"], "h": t["highPrice"],
                    "l": t["lowPrice"], "v": t["volume"], "q": t["quoteVolume"], "O": t["openTime"],
                    "C": t["closeTime"], "F": t["firstId"], "L": t["lastId"], "n": t["count"]})
            if mini_conns:
                self._publish(mini_conns, f"{lid}@miniTicker", {
                    "e": "24hrMiniTicker", "E": now, "s": market.id, "c": t["lastPrice"], "o": t["openPrice"],
                    "h": t["highPrice"], "l": t["lowPrice"], "v": t["volume"], "q": t["quoteVolume"]})

    # ----- public market streams ------------------------------------------------------------------
    async def public(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        combined = request.path.startswith("/stream")
        conn = PublicConn(ws, request, combined)
        tail = request.match_info.get("tail", "")
        initial = request.query.get("streams", "") if combined else tail
        for name in filter(None, initial.split("/")):
            if STREAM_RE.match(name):
                conn.streams.add(name)
        self.public_conns.add(conn)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                reply = self._control(conn, msg.data)
                conn.send(json.dumps(reply, separators=(",", ":")))
        finally:
            self.public_conns.discard(conn)
            await conn.close()
        return ws

    @staticmethod
    def _control(conn: PublicConn, text: str) -> dict:
        try:
            message = json.loads(text)
            method, req_id = message.get("method"), message.get("id")
        except (ValueError, AttributeError):
            return {"error": {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}, "id": None}
        params = message.get("params") or []
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(p, str) and STREAM_RE.match(p) for p in params):
                return {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": req_id}
            for name in params:
                (conn.streams.add if method == "SUBSCRIBE" else conn.streams.discard)(name)
            return {"result": None, "id": req_id}
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": sorted(conn.streams), "id": req_id}
        if method == "SET_PROPERTY":
            if params[:1] == ["combined"] and len(params) == 2:
                conn.combined = bool(params[1])
            return {"result": None, "id": req_id}
        if method == "GET_PROPERTY":
            return {"result": conn.combined, "id": req_id}
        return {"error": {"code": 1, "msg": "Invalid request: unknown method"}, "id": req_id}

    # ----- ws-api (user data stream) --------------------------------------------------------------
    async def ws_api(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = UserConn(ws, request)
        self.user_conns.add(conn)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                conn.send(json.dumps(self._ws_api_call(conn, msg.data), separators=(",", ":")))
        finally:
            self.user_conns.discard(conn)
            await conn.close()
        return ws

    def _ws_api_call(self, conn: UserConn, text: str) -> dict:
        try:
            message = json.loads(text)
            req_id, method = message.get("id"), message.get("method")
            params = message.get("params") or {}
        except (ValueError, AttributeError):
            return {"id": None, "status": 400, "error": {"code": -1135, "msg": "Invalid JSON Request"}}
        try:
            if method == "ping":
                result: Any = {}
            elif method == "time":
                result = {"serverTime": self.engine.clock()}
            elif method == "userDataStream.subscribe.signature":
                self._verify_ws_signature(params)
                sid = conn._next_id
                conn._next_id += 1
                conn.subscriptions.append(sid)
                result = {"subscriptionId": sid}
            elif method == "userDataStream.unsubscribe":
                sid = params.get("subscriptionId")
                conn.subscriptions = [] if sid is None else [s for s in conn.subscriptions if s != sid]
                result = {}
            elif method == "session.subscriptions":
                result = [{"subscriptionId": s} for s in conn.subscriptions]
            else:
                raise BinanceError(-1020, "This operation is not supported.")
        except BinanceError as exc:
            return {"id": req_id, "status": exc.status, "error": exc.body()}
        return {"id": req_id, "status": 200, "result": result}

    def _verify_ws_signature(self, params: dict) -> None:
        if params.get("apiKey") != self.config.api_key:
            raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", status=401)
        signature = params.get("signature")
        if not signature:
            raise BinanceError(-1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
        # ws-api signs the params sorted by key, joined k=v& without url-encoding.
        payload = "&".join(f"{k}={_plain(v)}" for k, v in sorted(params.items()) if k != "signature")
        expected = hmac.new(self.config.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, str(signature).lower()):
            raise BinanceError(-1022, "Signature for this request is not valid.")
        check_timestamp({k: _plain(v) for k, v in params.items()}, self.engine.clock())

    async def drop_user_streams(self) -> int:
        conns = list(self.user_conns)
        for conn in conns:
            self.user_conns.discard(conn)
            conn.subscriptions = []
            await conn.close(code=1011)
        return len(conns)

    async def close_all(self) -> None:
        for conn in list(self.user_conns) + list(self.public_conns):
            await conn.close()
        self.user_conns.clear()
        self.public_conns.clear()


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _levels(levels) -> dict[str, str]:
    return {fmt(lv.price): fmt(lv.qty) for lv in levels}


def _diff(old: dict[str, str], new: dict[str, str]) -> list[list[str]]:
    changes = [[price, qty] for price, qty in new.items() if old.get(price) != qty]
    changes += [[price, fmt(None)] for price in old if price not in new]
    return changes
