"""The raw wire, without ccxt: ws-api requests and events, market-stream protocols, control API, determinism."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from decimal import Decimal

import aiohttp
import pytest

from bot.sim import SimConfig, SimServer

EXECUTION_REPORT_KEYS = set("e E s c S o f q p P F g C x X r i l z L n N T t I w m M O Z Y Q V".split())


def ws_signature_params(api_key: str = "sim-key", secret: str = "sim-secret", **overrides) -> dict:
    params = {"apiKey": api_key, "recvWindow": 10000, "timestamp": int(time.time() * 1000), **overrides}
    payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    params["signature"] = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return params


def signed_query(params: dict, secret: str = "sim-secret") -> str:
    query = "&".join(f"{k}={v}" for k, v in {**params, "timestamp": int(time.time() * 1000)}.items())
    return query + "&signature=" + hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()


async def next_json(ws, timeout: float = 3.0) -> dict:
    return json.loads((await asyncio.wait_for(ws.receive(), timeout)).data)


async def test_ws_api_requests_and_events(sim):
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(sim.url.replace("http", "ws") + "/ws-api/v3") as ws:
            await ws.send_json({"id": "p", "method": "ping"})
            assert await next_json(ws) == {"id": "p", "status": 200, "result": {}}
            await ws.send_json({"id": 7, "method": "time"})
            assert (await next_json(ws))["result"]["serverTime"] > 0
            await ws.send_json({"id": "bad", "method": "userDataStream.subscribe.signature",
                                "params": ws_signature_params(secret="wrong")})
            reply = await next_json(ws)
            assert reply["status"] == 400 and reply["error"]["code"] == -1022
            await ws.send_json({"id": "s1", "method": "userDataStream.subscribe.signature",
                                "params": ws_signature_params()})
            assert await next_json(ws) == {"id": "s1", "status": 200, "result": {"subscriptionId": 0}}

            headers = {"X-MBX-APIKEY": "sim-key", "Content-Type": "application/x-www-form-urlencoded"}
            body = signed_query({"symbol": "BTCUSDT", "side": "SELL", "quantity": "0.5",
                                 "aboveType": "LIMIT_MAKER", "abovePrice": "70000",
                                 "belowType": "STOP_LOSS", "belowStopPrice": "65000"})
            async with session.post(sim.url + "/api/v3/orderList/oco", data=body, headers=headers) as resp:
                assert resp.status == 200, await resp.text()
                assert int(resp.headers["X-MBX-ORDER-COUNT-10S"]) == 2
                assert "X-MBX-USED-WEIGHT-1M" in resp.headers
            events = [await next_json(ws) for _ in range(4)]
            assert all(e["subscriptionId"] == 0 for e in events)
            kinds = [e["event"]["e"] for e in events]
            assert kinds == ["listStatus", "executionReport", "executionReport", "outboundAccountPosition"]
            report = events[1]["event"]
            assert EXECUTION_REPORT_KEYS <= set(report) and "ps" not in report
            assert report["g"] == events[0]["event"]["g"] and report["x"] == "NEW"
            assert events[0]["event"]["l"] == "EXEC_STARTED"

            await ws.send_json({"id": "u", "method": "userDataStream.unsubscribe"})
            assert (await next_json(ws))["result"] == {}


async def test_raw_and_combined_market_streams(sim):
    base = sim.url.replace("http", "ws")
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(base + "/ws/btcusdt@bookTicker") as raw:
            async with session.ws_connect(base + "/stream?streams=ethusdt@trade/ethusdt@depth5") as combined:
                async with session.ws_connect(base + "/ws/1") as sub:
                    await sub.send_json({"method": "SUBSCRIBE", "params": ["btcusdt@depth@100ms"], "id": 3})
                    assert await next_json(sub) == {"result": None, "id": 3}
                    await sub.send_json({"method": "SUBSCRIBE", "params": ["nonsense"], "id": 4})
                    assert (await next_json(sub))["error"]["code"] == 2
                    await sub.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 5})
                    assert await next_json(sub) == {"result": ["btcusdt@depth@100ms"], "id": 5}
                    # nothing moves on a static market until the control API moves it
                    async with session.post(sim.url + "/_sim/price",
                                            json={"symbol": "BTC/USDT", "price": "60000"}) as resp:
                        assert resp.status == 200
                    book_ticker = await next_json(raw)
                    assert set(book_ticker) == {"u", "s", "b", "B", "a", "A"} and book_ticker["s"] == "BTCUSDT"
                    diff = await next_json(sub)
                    assert diff["e"] == "depthUpdate" and diff["U"] <= diff["u"]
                    async with session.post(sim.url + "/api/v3/order", data=signed_query(
                            {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.1"}),
                            headers={"X-MBX-APIKEY": "sim-key"}) as resp:
                        assert resp.status == 200
                    messages = [await next_json(combined) for _ in range(2)]
                    streams = {m["stream"]: m["data"] for m in messages}
                    assert streams["ethusdt@trade"]["e"] == "trade" and streams["ethusdt@trade"]["q"] == "0.10000000"
                    assert len(streams["ethusdt@depth5"]["bids"]) == 5


async def test_control_state_balances_reset(sim):
    async with aiohttp.ClientSession() as session:
        body = signed_query({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                             "quantity": "0.01", "price": "60000", "newClientOrderId": "ctl-1"})
        async with session.post(sim.url + "/api/v3/order", data=body, headers={"X-MBX-APIKEY": "sim-key"}) as r:
            assert r.status == 200
        async with session.get(sim.url + "/_sim/state") as r:
            state = await r.json()
        (order,) = state["orders"]
        assert {k: order[k] for k in ("clientOrderId", "symbol", "side", "type", "status", "origQty", "price")} == {
            "clientOrderId": "ctl-1", "symbol": "BTC/USDT", "side": "BUY", "type": "LIMIT", "status": "NEW",
            "origQty": "0.01000000", "price": "60000.00000000"}
        assert state["prices"] == {"BTC/USDT": "67000.00000000", "ETH/USDT": "3500.00000000"}
        assert state["balances"]["USDT"] == {"free": "99400.00000000", "locked": "600.00000000"}
        async with session.post(sim.url + "/_sim/balances", json={"USDT": "5", "DOGE": "1"}) as r:
            assert (await r.json())["USDT"] == "5.00000000"
        async with session.post(sim.url + "/_sim/price", json={"symbol": "XRP/USDT", "price": "1"}) as r:
            assert r.status == 400
        async with session.post(sim.url + "/_sim/faults", json={"rules": [{"match": "x", "fault": "boom"}]}) as r:
            assert r.status == 400
        async with session.post(sim.url + "/_sim/reset") as r:
            assert r.status == 200
        async with session.get(sim.url + "/_sim/state") as r:
            state = await r.json()
        assert state["orders"] == [] and state["balances"]["USDT"]["free"] == "100000.00000000"


async def walk_prices(config: SimConfig, steps: int) -> list[str]:
    server = SimServer(config)
    prices = []
    for _ in range(steps):
        market = server.engine.data.markets["BTC/USDT"]
        server.engine.step(market)
        prices.append(str(market.mid))
    return prices


async def test_walk_is_deterministic_under_seed():
    first = await walk_prices(SimConfig(seed=7), 20)
    assert first == await walk_prices(SimConfig(seed=7), 20)
    assert first != await walk_prices(SimConfig(seed=8), 20)
    assert len(set(first)) > 1


async def test_replay_price_model(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text("time,price\n0,100\n1,110\n2,90\n")
    prices = await walk_prices(SimConfig(price_model=f"replay:{path}"), 4)
    # one row per step, scaled to the symbol's start (67000 = 100); the last row holds
    assert [Decimal(p) for p in prices] == [67000, 73700, 60300, 60300]
    path.write_text("time,symbol,price\n0,BTCUSDT,50000\n0,ETHUSDT,3000\n1,BTCUSDT,51000\n")
    assert [Decimal(p) for p in await walk_prices(SimConfig(price_model=f"replay:{path}"), 2)] == [50000, 51000]


@pytest.mark.parametrize("model", ["nope", "replay"])
def test_unknown_price_model_is_refused(model):
    with pytest.raises(ValueError):
        SimServer(SimConfig(price_model=model))
