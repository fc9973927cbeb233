"""Operator routes (breakers, halt/resume, policy reload), state views, health, metrics, OpenAPI, HTML pages."""
from __future__ import annotations

from .conftest import wait_for

ORDER = {"symbol": "BTC/USDT", "side": "BUY", "quantity": "0.01", "order_type": "LIMIT", "limit_price": "60000"}


async def call(http, daemon, method, path, key=None, keys=None, body=None):
    headers = keys.headers(key) if key else {}
    async with http.request(method, daemon.api_url + path, json=body, headers=headers) as response:
        data = await response.json() if response.content_type == "application/json" else await response.text()
        return response.status, data


async def test_breakers_list_and_reset(http, daemon, keys):
    assert (await call(http, daemon, "POST", "/v1/orders", "trader", keys, ORDER))[0] == 201  # breakers are lazy
    status, body = await call(http, daemon, "GET", "/v1/breakers", "reader", keys)
    assert status == 200 and body["trading_states"] == {"main": "ACTIVE"}
    names = [b["name"] for b in body["breakers"]]
    assert "venue:main" in names
    status, breaker = await call(http, daemon, "POST", "/v1/breakers/venue:main/reset", "admin", keys)
    assert status == 200 and breaker["state"] == "CLOSED"
    status, error = await call(http, daemon, "POST", "/v1/breakers/nope/reset", "admin", keys)
    assert status == 404 and error["code"] == "NOT_FOUND"


async def test_halt_rejects_orders_then_resume(http, daemon, keys):
    status, body = await call(http, daemon, "POST", "/v1/halt", "admin", keys, {"flatten": False})
    assert status == 200 and body["trading_states"] == {"main": "HALTED"} and body["flatten"] == "none"
    status, error = await call(http, daemon, "POST", "/v1/orders", "trader", keys, ORDER)
    assert status == 422 and error["details"]["code"] == "TRADING_HALTED"
    status, body = await call(http, daemon, "POST", "/v1/resume", "admin", keys)
    assert status == 200 and body["trading_states"] == {"main": "ACTIVE"}
    status, _ = await call(http, daemon, "POST", "/v1/orders", "trader", keys, ORDER)
    assert status == 201
    status, _ = await call(http, daemon, "POST", "/v1/halt", "admin", keys, {"flatten": "yes"})
    assert status == 400


async def test_halt_flatten_closes_positions(http, daemon, keys):
    status, _ = await call(http, daemon, "POST", "/v1/orders", "trader", keys,
                           {**ORDER, "order_type": "MARKET", "limit_price": None})
    assert status == 201
    await wait_for(lambda: daemon.execution.positions.quantity("main", "BTC/USDT") > 0, 5)
    status, _ = await call(http, daemon, "POST", "/v1/orders", "trader", keys, ORDER)      # a resting order
    status, body = await call(http, daemon, "POST", "/v1/halt", "admin", keys, {"flatten": True})
    assert status in (200, 202) and body["trading_states"]["main"] == "HALTED", body
    await wait_for(lambda: daemon.execution.positions.quantity("main", "BTC/USDT") == 0, 5, what="flat")
    status, listing = await call(http, daemon, "GET", "/v1/orders?status=open", "reader", keys)
    await wait_for(lambda: not daemon.execution.ledger.live, 5, what="no open orders")


async def test_policy_reload(http, daemon, keys):
    before = daemon.gate.loaded.hash
    policy = daemon.settings.policy
    policy.write_text(policy.read_text().replace('min_notional: "1"', 'min_notional: "2"'))
    status, body = await call(http, daemon, "POST", "/v1/policy/reload", "admin", keys)
    assert status == 200 and body["hash"] != before and body["hash"] == daemon.gate.loaded.hash
    good = body["hash"]
    policy.write_text("version: 1\nmode: sideways\nbogus: 1\n")
    status, error = await call(http, daemon, "POST", "/v1/policy/reload", "admin", keys)
    assert status == 422 and error["code"] == "POLICY_INVALID" and error["details"]["errors"]
    assert daemon.gate.loaded.hash == good


async def test_state_views(http, daemon, keys):
    status, caps = await call(http, daemon, "GET", "/v1/capabilities", "reader", keys)
    assert status == 200 and "oco" in caps["features"]
    main = caps["accounts"]["main"]
    assert main["venue"] == "sim" and "LIMIT" in main["order_types"] and "GTC" in main["time_in_force"]
    assert isinstance(main["features"], list)
    status, balances = await call(http, daemon, "GET", "/v1/balances", "reader", keys)
    assert status == 200 and balances["balances"]["main"]["USDT"]
    status, positions = await call(http, daemon, "GET", "/v1/positions?account=main", "reader", keys)
    assert status == 200 and isinstance(positions["positions"], list)
    status, _ = await call(http, daemon, "GET", "/v1/positions?unknown=1", "reader", keys)
    assert status == 400


async def test_health_metrics_and_route_labels(http, daemon, keys):
    assert (await call(http, daemon, "GET", "/healthz"))[0] == 200
    assert (await call(http, daemon, "GET", "/readyz")) == (200, {"ready": True})
    await call(http, daemon, "GET", "/v1/orders/some-id-1", "reader", keys)
    await call(http, daemon, "GET", "/v1/orders/some-id-2", "reader", keys)
    status, text = await call(http, daemon, "GET", "/metrics")
    assert status == 200
    assert 'tradewire_api_requests_total{method="GET",route="/v1/orders/{id}",status="404"} 2.0' in text
    assert "some-id" not in text
    assert 'tradewire_api_request_duration_seconds_count{route="/v1/orders/{id}"}' in text


async def test_openapi_docs_and_status_page(http, daemon, keys):
    status, doc = await call(http, daemon, "GET", "/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.1")
    for path in ("/v1/orders", "/api/v1/orders", "/v1/orders/{id}", "/v1/capabilities", "/v1/positions",
                 "/v1/balances", "/v1/signals", "/v1/signals/{source}", "/v1/breakers", "/v1/breakers/{name}/reset",
                 "/v1/halt", "/v1/resume", "/v1/policy/reload", "/v1/stream", "/trading/orders", "/healthz",
                 "/readyz", "/metrics", "/openapi.json", "/docs", "/v1/webhooks/dead-letters",
                 "/v1/webhooks/dead-letters/{id}/retry"):
        assert path in doc["paths"], path
    create = doc["paths"]["/v1/orders"]["post"]
    assert set(create["responses"]) >= {"200", "201", "202", "400", "401", "403", "409", "422", "429"}
    schema = doc["components"]["schemas"]["OrderRequest"]
    assert schema["additionalProperties"] is False and schema["properties"]["client_order_id"]["anyOf"][0][
        "maxLength"] == 64
    status, html = await call(http, daemon, "GET", "/docs")
    assert status == 200 and "POST" in html and "/v1/orders" in html and "IDEMPOTENCY_CONFLICT" in html
    status, page = await call(http, daemon, "GET", "/")
    assert status == 200 and "API key" in page and "Positions" not in page
    await call(http, daemon, "POST", "/v1/orders", "trader", keys, {**ORDER, "client_order_id": "shown-1"})
    async with http.get(daemon.api_url + "/", params={"key": keys["reader"]}) as r:
        page = await r.text()
    assert r.status == 200 and "Trading state" in page and "ACTIVE" in page and "shown-1" in page
    assert "/v1/stream" in page and "Breakers" in page and "Recent signals" in page
