"""``GET /v1/stream``: the event bus over a websocket. Each client has a bounded queue; the bus callback only
does ``put_nowait``, so a slow client can never slow the trading path: when its queue is full it is dropped
with close code 4008 ("slow consumer"). Clients may send ``{"subscribe": [types]}`` to filter (``[]`` or
``["*"]`` = everything); the server answers ``{"type": "subscribed", "types": [...]}``."""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import WSMsgType, web

from bot.api.core import Ctx, dumps

if TYPE_CHECKING:
    from bot.api.server import Api

log = logging.getLogger("tradewire.api.stream")

EVENT_TYPES = ("order.updated", "fill", "position.updated", "signal.decided", "breaker.changed",
               "trading_state.changed", "error", "position.flattened", "policy.reloaded")
CLOSE_SLOW = 4008
CLOSE_SHUTDOWN = 1001


class Client:
    def __init__(self, ws: web.WebSocketResponse, maxsize: int, types: frozenset[str] | None):
        self.ws = ws
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize)
        self.types = types           # None: every type
        self.dropped = False
        self.writer: asyncio.Task[None] | None = None

    def offer(self, kind: str, payload: dict[str, Any]) -> None:
        if self.dropped or (self.types is not None and kind not in self.types):
            return
        try:
            self.queue.put_nowait(payload)
        except asyncio.QueueFull:
            self.dropped = True
            if self.writer is not None:
                self.writer.cancel()


class StreamHub:
    def __init__(self, bus: Any, maxsize: int):
        self.maxsize = maxsize
        self.clients: set[Client] = set()
        self._unsubscribe = bus.subscribe(self._on_event)

    def _on_event(self, kind: str, payload: dict[str, Any]) -> None:
        for client in self.clients:
            client.offer(kind, payload)

    def close(self) -> None:
        self._unsubscribe()

    async def shutdown(self) -> None:
        for client in list(self.clients):
            await client.ws.close(code=CLOSE_SHUTDOWN, message=b"server shutting down")


def _types(values: Any) -> frozenset[str] | None:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValueError("subscribe must be a list of event types")
    if not values or "*" in values:
        return None
    return frozenset(values)


async def _write(client: Client) -> None:
    while True:
        payload = await client.queue.get()
        await client.ws.send_str(dumps(payload).decode())


async def stream(api: "Api", ctx: Ctx) -> web.StreamResponse:
    ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=64 * 1024)
    await ws.prepare(ctx.request)
    types = None
    if ctx.query is not None and ctx.query.types:
        types = _types([t.strip() for t in ctx.query.types.split(",") if t.strip()])
    client = Client(ws, api.options.stream_queue, types)
    hub = api.stream
    hub.clients.add(client)
    client.writer = asyncio.create_task(_write(client))
    await ws.send_str(dumps({"type": "hello", "types": sorted(types) if types else ["*"],
                             "available": list(EVENT_TYPES)}).decode())
    reader = asyncio.create_task(_read(client))
    try:
        await asyncio.wait({client.writer, reader}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        hub.clients.discard(client)
        reader.cancel()
        client.writer.cancel()
        if client.dropped:
            log.warning("stream client %s dropped: it fell %d events behind", ctx.ip, api.options.stream_queue)
            await ws.close(code=CLOSE_SLOW, message=b"slow consumer: event queue overflow")
        elif not ws.closed:
            await ws.close()
    return ws


async def _read(client: Client) -> None:
    ws = client.ws
    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            continue
        try:
            data = orjson.loads(msg.data)
            if not isinstance(data, dict) or "subscribe" not in data:
                raise ValueError('send {"subscribe": ["order.updated", ...]}')
            client.types = _types(data["subscribe"])
        except (ValueError, orjson.JSONDecodeError) as exc:
            await ws.send_str(dumps({"type": "error", "code": "INVALID_REQUEST", "message": str(exc)}).decode())
            continue
        await ws.send_str(dumps({"type": "subscribed",
                                 "types": sorted(client.types) if client.types else ["*"]}).decode())
