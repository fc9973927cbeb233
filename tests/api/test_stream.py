"""``GET /v1/stream``: events over a websocket, the subscribe filter, and dropping a client that falls behind."""
from __future__ import annotations

import asyncio

import aiohttp

from bot.api import ApiOptions
from bot.api.stream import CLOSE_SLOW

from .conftest import make_keys


async def receive_until(ws, predicate, timeout=5.0):
    seen = []
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive_json()
            seen.append(msg)
            if predicate(msg):
                return seen


async def test_stream_filter(http, daemon, keys):
    async with http.ws_connect(daemon.api_url + "/v1/stream", headers=keys.headers("reader")) as ws:
        hello = await ws.receive_json()
        assert hello["type"] == "hello" and hello["types"] == ["*"]
        await ws.send_json({"subscribe": ["fill"]})
        assert (await ws.receive_json()) == {"type": "subscribed", "types": ["fill"]}
        order = {"symbol": "BTC/USDT", "side": "BUY", "quantity": "0.01", "order_type": "MARKET"}
        async with http.post(daemon.api_url + "/v1/orders", json=order, headers=keys.headers("trader")) as r:
            assert r.status == 201
        seen = await receive_until(ws, lambda m: m["type"] == "fill")
        assert {m["type"] for m in seen} == {"fill"} and seen[0]["quantity"] and seen[0]["price"]
        await ws.send_json({"subscribe": "nope"})
        assert (await ws.receive_json())["code"] == "INVALID_REQUEST"


async def test_stream_key_in_query_and_types_param(http, daemon, keys):
    url = f"{daemon.api_url}/v1/stream?key={keys['reader']}&types=order.updated"
    async with http.ws_connect(url) as ws:
        assert (await ws.receive_json())["types"] == ["order.updated"]
        order = {"symbol": "BTC/USDT", "side": "BUY", "quantity": "0.01", "order_type": "LIMIT",
                 "limit_price": "60000"}
        async with http.post(daemon.api_url + "/v1/orders", json=order, headers=keys.headers("trader")) as r:
            handle = await r.json()
        seen = await receive_until(ws, lambda m: m["order"]["status"] == "OPEN")
        assert all(m["type"] == "order.updated" and m["order"]["id"] == handle["id"] for m in seen)
    async with http.get(daemon.api_url + "/v1/stream", headers=keys.headers("reader")) as r:
        assert r.status == 400                                   # not a websocket upgrade
    try:
        async with http.ws_connect(daemon.api_url + "/v1/stream"):
            raise AssertionError("connected without a key")
    except aiohttp.WSServerHandshakeError as exc:
        assert exc.status == 401


async def test_slow_client_is_dropped_without_blocking_the_bus(http, make_daemon):
    daemon = await make_daemon(ApiOptions(stream_queue=10))
    keys = make_keys(daemon)
    async with http.ws_connect(daemon.api_url + "/v1/stream", headers=keys.headers("reader")) as ws:
        await ws.receive_json()
        loop = asyncio.get_running_loop()
        started = loop.time()
        for i in range(500):        # all at once: the writer never gets to run, the queue overflows
            daemon.bus.publish("breaker.changed", {"name": f"test:{i}", "state": "CLOSED"})
        assert loop.time() - started < 0.5
        async with asyncio.timeout(5):
            while True:
                msg = await ws.receive()
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                    break
        assert ws.close_code == CLOSE_SLOW
