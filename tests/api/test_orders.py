"""POST/GET/DELETE /v1/orders against a real daemon and simulator: 201 / 202 / 200 replay / 409 / 400 / 422 /
503, full order views, listings, cancels, and 50 concurrent requests with one client_order_id."""
from __future__ import annotations

import asyncio

import aiohttp

from bot.api import ApiOptions

from .conftest import make_keys, sim_orders, wait_for

LIMIT_BUY = {"symbol": "BTC/USDT", "side": "BUY", "quantity": "0.01", "order_type": "LIMIT",
             "limit_price": "60000"}


async def post(http, daemon, keys, body, key="trader", path="/v1/orders", **headers):
    async with http.post(daemon.api_url + path, json=body, headers=keys.headers(key, **headers)) as response:
        return response.status, await response.json(), response.headers


async def test_limit_order_is_acknowledged_201_and_shown_in_full(http, daemon, keys):
    status, body, headers = await post(http, daemon, keys, {**LIMIT_BUY, "client_order_id": "my-1"},
                                       **{"X-Correlation-ID": "corr-abc"})
    assert status == 201, body
    assert body["status"] == "OPEN" and body["client_order_id"] == "my-1" and body["id"]
    assert headers["X-Correlation-ID"] == "corr-abc"
    assert headers["Location"] == f"/v1/orders/{body['id']}"

    async with http.get(f"{daemon.api_url}/v1/orders/{body['id']}", headers=keys.headers("reader")) as r:
        order = await r.json()
    assert r.status == 200
    for field in ("id", "client_order_id", "venue_client_id", "venue_order_id", "account", "symbol", "side",
                  "order_type", "quantity", "status", "filled_quantity", "average_price", "fills", "legs", "events",
                  "created_at", "updated_at", "origin"):
        assert field in order, field
    assert order["client_order_id"] == "my-1" and order["venue_order_id"]
    assert order["quantity"] == "0.01" and order["limit_price"] == "60000" and order["account"] == "main"
    assert order["origin"]["kind"] == "api" and order["origin"]["key_name"] == "trader"
    assert order["origin"]["ip"] == "127.0.0.1" and order["origin"]["correlation_id"] == "corr-abc"
    assert [e["kind"] for e in order["events"]][:2] == ["created", "acknowledged"]
    assert len(await sim_orders(http, daemon, order["venue_client_id"])) == 1


async def test_market_order_fills_201_with_fills_and_protection_legs(http, daemon, keys):
    body = {"symbol": "BTC/USDT", "side": "BUY", "quantity": "0.01", "order_type": "MARKET",
            "stop_loss": "60000", "take_profit": ["70000", "72000"]}
    status, handle, _ = await post(http, daemon, keys, body)
    assert status == 201 and handle["status"] in ("FILLED", "OPEN", "PARTIALLY_FILLED"), handle
    assert handle["client_order_id"] is None

    async def detail():
        async with http.get(f"{daemon.api_url}/v1/orders/{handle['id']}", headers=keys.headers("reader")) as r:
            data = await r.json()
        return data if data["status"] == "FILLED" and data["fills"] and len(data["legs"]) >= 2 else None
    order = await wait_for(detail, 5, what="fills and protective legs")
    assert order["take_profit"] and order["stop_loss"] == "60000"
    assert {leg["leg"] for leg in order["legs"]} >= {"sl", "tp"}
    assert all(f["price"] and f["quantity"] for f in order["fills"])

    async with http.get(f"{daemon.api_url}/v1/positions", headers=keys.headers("reader")) as r:
        positions = (await r.json())["positions"]
    btc = next(p for p in positions if p["symbol"] == "BTC/USDT")
    assert btc["quantity"] == "0.01" and btc["protection"], btc


async def test_alias_route_places_orders(http, daemon, keys):
    status, body, _ = await post(http, daemon, keys, LIMIT_BUY, path="/api/v1/orders")
    assert status == 201 and body["status"] == "OPEN"


async def test_replay_200_and_conflict_409(http, daemon, keys):
    first = {**LIMIT_BUY, "client_order_id": "same-key"}
    status, body, _ = await post(http, daemon, keys, first)
    assert status == 201
    status, again, _ = await post(http, daemon, keys, first)
    assert status == 200 and again["id"] == body["id"] and again["client_order_id"] == "same-key"
    status, conflict, _ = await post(http, daemon, keys, {**first, "quantity": "0.02"})
    assert status == 409 and conflict["code"] == "IDEMPOTENCY_CONFLICT", conflict
    assert conflict["correlation_id"] and conflict["details"]["order_id"] == body["id"]
    # another key's client_order_id space is its own
    status, other, _ = await post(http, daemon, keys, first, key="admin")
    assert status == 201 and other["id"] != body["id"]
    assert len(await sim_orders(http, daemon, body["id"])) == 1


async def test_idempotency_key_header(http, daemon, keys):
    status, body, _ = await post(http, daemon, keys, LIMIT_BUY, **{"Idempotency-Key": "idem-1"})
    assert status == 201
    status, again, _ = await post(http, daemon, keys, LIMIT_BUY, **{"Idempotency-Key": "idem-1"})
    assert status == 200 and again["id"] == body["id"]
    status, conflict, _ = await post(http, daemon, keys, {**LIMIT_BUY, "limit_price": "59000"},
                                     **{"Idempotency-Key": "idem-1"})
    assert status == 409 and conflict["code"] == "IDEMPOTENCY_CONFLICT"


async def test_fifty_concurrent_posts_one_venue_order(http, daemon, keys):
    body = {**LIMIT_BUY, "client_order_id": "burst-1"}
    results = await asyncio.gather(*(post(http, daemon, keys, body) for _ in range(50)))
    statuses = sorted(status for status, _, _ in results)
    ids = {handle["id"] for _, handle, _ in results}
    assert len(ids) == 1, ids
    assert statuses.count(201) + statuses.count(202) == 1 and statuses.count(200) == 49, statuses
    assert len(await sim_orders(http, daemon, ids.pop())) == 1


async def test_prefer_respond_async_202(http, daemon, keys):
    status, body, headers = await post(http, daemon, keys, LIMIT_BUY, Prefer="respond-async")
    assert status == 202 and body["status"] == "PENDING", body
    assert headers.get("Preference-Applied") == "respond-async"
    # persisted at once; the send goes on in the background and is acknowledged
    async def opened():
        async with http.get(f"{daemon.api_url}/v1/orders/{body['id']}", headers=keys.headers("reader")) as r:
            return (await r.json())["status"] == "OPEN"
    await wait_for(opened, 5, what="OPEN after 202")


async def test_slow_venue_202_then_open(http, make_daemon):
    daemon = await make_daemon(ApiOptions(ack_timeout=0.3))
    keys = make_keys(daemon)
    async with http.post(f"{daemon.sims[0].url}/_sim/faults", json={"rules": [
            {"match": "POST /api/v3/order", "fault": "delay", "delay_ms": 1500, "count": 1}]}) as r:
        assert r.status == 200, await r.text()
    status, body, _ = await post(http, daemon, keys, LIMIT_BUY)
    assert status == 202 and body["status"] == "PENDING", body

    async def opened():
        async with http.get(f"{daemon.api_url}/v1/orders/{body['id']}", headers=keys.headers("reader")) as r:
            return (await r.json())["status"] == "OPEN"
    await wait_for(opened, 5, what="the delayed order to open")
    assert len(await sim_orders(http, daemon, body["id"])) == 1


async def test_400_invalid_bodies(http, daemon, keys):
    cases = [
        {**LIMIT_BUY, "client_order_id": "x" * 65},
        {**LIMIT_BUY, "unknown": 1},
        {**LIMIT_BUY, "quantity": 0.01},                  # a float: decimals are strings
        {**LIMIT_BUY, "quantity": "0"},
        {k: v for k, v in LIMIT_BUY.items() if k != "limit_price"},
        {**LIMIT_BUY, "side": "buy"},
        {**LIMIT_BUY, "order_type": "STOP_LIMIT", "stop_price": None},
        {**LIMIT_BUY, "account": "nope"},
        {**LIMIT_BUY, "callback_url": "ftp://example"},
    ]
    for body in cases:
        status, error, headers = await post(http, daemon, keys, body)
        assert status == 400, (body, error)
        assert error["code"] == "INVALID_REQUEST" and error["correlation_id"] == headers["X-Correlation-ID"]
        assert set(error) == {"code", "message", "details", "correlation_id"}
    async with http.post(daemon.api_url + "/v1/orders", data=b"{not json", headers=keys.headers(
            "trader", **{"Content-Type": "application/json"})) as r:
        assert r.status == 400 and (await r.json())["code"] == "INVALID_REQUEST"
    status, _, _ = await post(http, daemon, keys, {**LIMIT_BUY, "client_order_id": "x" * 64})
    assert status == 201


async def test_422_policy_and_venue_rejections(http, daemon, keys):
    status, error, _ = await post(http, daemon, keys, {**LIMIT_BUY, "quantity": "5"})     # 300k notional
    assert status == 422 and error["code"] == "POLICY_REJECTED", error
    assert error["details"]["code"] == "NOTIONAL_TOO_LARGE" and error["details"]["rule"]
    assert {"code", "rule", "limit", "observed"} <= set(error["details"])

    status, error, _ = await post(http, daemon, keys, {**LIMIT_BUY, "symbol": "DOGE/USDT"})
    assert status == 422 and error["code"] == "SYMBOL_NOT_TRADEABLE", error

    status, error, _ = await post(http, daemon, keys, {**LIMIT_BUY, "order_type": "TRAILING_STOP",
                                                       "trail_percent": "1"})
    assert status == 422 and error["code"] == "ORDER_TYPE_NOT_SUPPORTED", error

    status, error, _ = await post(http, daemon, keys, {**LIMIT_BUY, "quantity": "0.000001"})
    assert status == 422 and error["code"] == "INVALID_QUANTITY", error

    # the venue refuses: the daemon's cached balance says enough, the simulator's account does not
    async with http.post(f"{daemon.sims[0].url}/_sim/balances", json={"USDT": "5"}) as r:
        assert r.status == 200
    status, error, _ = await post(http, daemon, keys, {**LIMIT_BUY, "client_order_id": "poor"})
    assert status == 422 and error["code"] == "INSUFFICIENT_BALANCE", error
    assert error["details"]["status"] == "REJECTED"


async def test_503_when_not_ready(http, daemon, keys):
    daemon.ready = False
    try:
        status, error, _ = await post(http, daemon, keys, LIMIT_BUY)
        assert status == 503 and error["code"] == "VENUE_UNAVAILABLE"
        async with http.get(daemon.api_url + "/readyz") as r:
            assert r.status == 503
    finally:
        daemon.ready = True
    async with http.get(daemon.api_url + "/readyz") as r:
        assert r.status == 200 and (await r.json())["ready"] is True


async def test_lookup_listing_and_pagination(http, daemon, keys):
    ids = []
    for i in range(5):
        status, body, _ = await post(http, daemon, keys, {**LIMIT_BUY, "client_order_id": f"page-{i}"})
        assert status == 201
        ids.append(body["id"])
    h = keys.headers("reader")
    async with http.get(daemon.api_url + "/v1/orders", params={"client_order_id": "page-3"}, headers=h) as r:
        found = await r.json()
    assert r.status == 200 and [o["id"] for o in found["orders"]] == [ids[3]] and found["next"] is None
    async with http.get(daemon.api_url + "/v1/orders", params={"venue_client_id": ids[1]}, headers=h) as r:
        assert [o["client_order_id"] for o in (await r.json())["orders"]] == ["page-1"]
    seen, cursor = [], None
    while True:
        params = {"status": "open", "symbol": "BTC/USDT", "limit": "2", **({"cursor": cursor} if cursor else {})}
        async with http.get(daemon.api_url + "/v1/orders", params=params, headers=h) as r:
            page = await r.json()
        assert r.status == 200 and len(page["orders"]) <= 2
        seen += [o["id"] for o in page["orders"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    async with http.get(daemon.api_url + "/v1/orders", params={"status": "bogus"}, headers=h) as r:
        assert r.status == 400
    async with http.get(daemon.api_url + "/v1/orders/nope", headers=h) as r:
        error = await r.json()
        assert r.status == 404 and error["code"] == "NOT_FOUND"


async def test_cancel_202_then_canceled_and_final_orders(http, daemon, keys):
    status, body, _ = await post(http, daemon, keys, LIMIT_BUY)
    assert status == 201
    url = f"{daemon.api_url}/v1/orders/{body['id']}"
    async with http.delete(url, headers=keys.headers("trader")) as r:
        handle = await r.json()
        assert r.status == 202 and handle["id"] == body["id"], handle

    async def canceled():
        async with http.get(url, headers=keys.headers("reader")) as r:
            return (await r.json())["status"] == "CANCELED"
    await wait_for(canceled, 5, what="CANCELED")
    async with http.delete(url, headers=keys.headers("trader")) as r:
        assert r.status == 200 and (await r.json())["status"] == "CANCELED"
    status, filled, _ = await post(http, daemon, keys, {**LIMIT_BUY, "order_type": "MARKET", "limit_price": None})
    assert status == 201
    await wait_for(lambda: daemon.execution.ledger.find_by_id(filled["id"]).status.value == "FILLED", 5)
    async with http.delete(f"{daemon.api_url}/v1/orders/{filled['id']}", headers=keys.headers("trader")) as r:
        assert r.status == 422 and (await r.json())["code"] == "ORDER_NOT_OPEN"
    async with http.delete(f"{daemon.api_url}/v1/orders/nope", headers=keys.headers("trader")) as r:
        assert r.status == 404


async def test_hummingbot_compatible_trade(http, daemon, keys):
    body = {"account_name": "main", "connector_name": "binance", "trading_pair": "BTC-USDT", "trade_type": "BUY",
            "amount": 0.01, "order_type": "LIMIT", "price": 60000, "position_action": "OPEN"}
    auth = {"Authorization": aiohttp.encode_basic_auth("trader", keys["trader"])}
    async with http.post(daemon.api_url + "/trading/orders", json=body, headers=auth) as r:
        data = await r.json()
    assert r.status == 200, data
    assert data["status"] == "submitted" and data["order_id"] and data["trading_pair"] == "BTC-USDT"
    assert data["amount"] == "0.01" and data["price"] == "60000"
    order = daemon.execution.ledger.find_by_id(data["order_id"])
    assert order.symbol == "BTC/USDT" and order.origin_source == "trader"
    wrong = {"Authorization": aiohttp.encode_basic_auth("reader", keys["trader"])}      # name must match the key
    async with http.post(daemon.api_url + "/trading/orders", json=body, headers=wrong) as r:
        assert r.status == 401 and "Basic" in r.headers["WWW-Authenticate"]
    async with http.post(daemon.api_url + "/trading/orders", json={**body, "connector_name": "kraken"},
                         headers=auth) as r:
        assert r.status == 400
