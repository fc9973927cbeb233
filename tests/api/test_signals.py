"""Webhook signals: native JSON with an API key, TradingView (text/plain, secret in the body, allow_ips),
duplicates, schema errors, and the signal listing."""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone

from .conftest import TV_SECRET


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


def native(signal_id: str, **extra) -> dict:
    return {"id": signal_id, "symbol": "BTC/USDT", "action": "open", "side": "buy", "generated_at": now(),
            "size": {"quantity": "0.001"}, **extra}


async def test_native_signal_202_duplicate_200_invalid_400(http, daemon, keys):
    url = daemon.api_url + "/v1/signals"
    async with http.post(url, json=native("n-1", source="hook"), headers=keys.headers("signaler")) as r:
        body = await r.json()
    assert r.status == 202 and body["status"] == "ACCEPTED" and body["key"] == "hook:n-1" and body["orders"], body
    async with http.post(url, json=native("n-1", source="hook"), headers=keys.headers("signaler")) as r:
        again = await r.json()
    assert r.status == 200 and again["duplicate"] is True and again["status"] == "ACCEPTED"
    assert again["orders"] == body["orders"]
    async with http.post(url, json={"id": "n-2", "source": "hook", "symbol": "BTC/USDT"},
                         headers=keys.headers("signaler")) as r:
        error = await r.json()
    assert r.status == 400 and error["code"] == "INVALID_REQUEST" and error["details"]["signal_code"]
    # without a source the key's name is the source (no strategy follows it: recorded, rejected)
    async with http.post(url, json=native("n-3"), headers=keys.headers("signaler")) as r:
        body = await r.json()
    assert r.status == 202 and body["key"] == "signaler:n-3" and body["status"] == "REJECTED"
    async with http.post(url, json=native("n-4"), headers=keys.headers("reader")) as r:
        assert r.status == 403
    async with http.get(daemon.api_url + "/v1/signals", params={"source": "hook"},
                        headers=keys.headers("reader")) as r:
        listed = (await r.json())["signals"]
    assert {s["key"] for s in listed} == {"hook:n-1", "hook:n-2"}
    assert next(s for s in listed if s["key"] == "hook:n-1")["orders"]
    async with http.get(daemon.api_url + "/v1/signals", params={"status": "INVALID"},
                        headers=keys.headers("reader")) as r:
        assert [s["key"] for s in (await r.json())["signals"]] == ["hook:n-2"]


async def test_tradingview_text_plain_secret_and_duplicates(http, daemon, keys):
    url = daemon.api_url + "/v1/signals/tv"
    alert = {"secret": TV_SECRET, "id": "tv-1", "ticker": "BINANCE:BTCUSDT", "action": "buy", "time": now(),
             "size": {"quantity": "0.001"}}
    started = time.monotonic()
    async with http.post(url, data=json.dumps(alert), headers={"Content-Type": "text/plain"}) as r:
        body = await r.json()
    assert r.status == 202 and body["status"] == "ACCEPTED" and body["key"] == "tv:tv-1", body
    assert time.monotonic() - started < 3
    async with http.post(url, data=json.dumps(alert), headers={"Content-Type": "text/plain"}) as r:
        again = await r.json()
    assert r.status == 200 and again["status"] == "ACCEPTED" and again["duplicate"] is True
    stored = daemon.store.get_signal("tv:tv-1")
    assert TV_SECRET not in stored["payload"]                     # secrets never reach the database

    for bad in ({**alert, "id": "tv-2", "secret": "wrong"}, {k: v for k, v in alert.items() if k != "secret"}):
        async with http.post(url, data=json.dumps(bad), headers={"Content-Type": "text/plain"}) as r:
            error = await r.json()
        assert r.status == 401 and error["code"] == "UNAUTHENTICATED", error
    async with http.post(url, data=b"not json at all", headers={"Content-Type": "text/plain"}) as r:
        assert r.status == 401
    assert daemon.store.get_signal("tv:tv-2") is None
    async with http.post(url, json={"secret": TV_SECRET, "id": "tv-3"}) as r:     # authenticated, bad schema
        error = await r.json()
    assert r.status == 400 and error["code"] == "INVALID_REQUEST"


async def test_source_routing_allow_ips_and_unknown_sources(http, daemon, keys):
    alert = {"secret": TV_SECRET, "id": "far-1", "ticker": "BTCUSDT", "action": "buy", "time": now()}
    async with http.post(daemon.api_url + "/v1/signals/faraway", json=alert) as r:
        assert r.status == 403 and (await r.json())["code"] == "FORBIDDEN"
    async with http.post(daemon.api_url + "/v1/signals/nosuch", json=alert) as r:
        assert r.status == 404
    # a webhook source without a secret takes an API key with scope signal
    async with http.post(daemon.api_url + "/v1/signals/hook", json=native("h-1")) as r:
        assert r.status == 401
    async with http.post(daemon.api_url + "/v1/signals/hook", json=native("h-1"),
                         headers=keys.headers("reader")) as r:
        assert r.status == 403
    async with http.post(daemon.api_url + "/v1/signals/hook", json=native("h-1"),
                         headers=keys.headers("signaler")) as r:
        body = await r.json()
    assert r.status == 202 and body["key"] == "hook:h-1"
