"""Outbound webhooks: Standard Webhooks signatures checked by a receiver written from the spec, retries with
backoff, dead-lettering after the last attempt, and a retry from the dead-letter list."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from aiohttp import web

from bot.api import ApiOptions
from bot.api.keys import KeyStore
from bot.api.server import api_of

from .conftest import make_keys, wait_for


class Receiver:
    """A webhook consumer that verifies per https://www.standardwebhooks.com: HMAC-SHA256 over
    "{webhook-id}.{webhook-timestamp}.{body}" with the base64-decoded secret after "whsec_", base64 signature
    prefixed "v1,", several space-separated signatures allowed, timestamp within 5 minutes."""

    def __init__(self, secret: str | None = None, status: int = 200):
        self.secret = secret
        self.status = status
        self.received: list[dict] = []
        self.attempts: list[str] = []
        self.invalid = 0

    def verify(self, headers, body: bytes) -> bool:
        msg_id, timestamp = headers.get("webhook-id"), headers.get("webhook-timestamp")
        signatures = headers.get("webhook-signature", "")
        if not (msg_id and timestamp and signatures and self.secret):
            return False
        if abs(time.time() - int(timestamp)) > 300:
            return False
        key = base64.b64decode(self.secret.split("_", 1)[1])
        expected = base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body,
                                             hashlib.sha256).digest()).decode()
        return any(sig.startswith("v1,") and hmac.compare_digest(sig[3:], expected) for sig in signatures.split())

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.attempts.append(request.headers.get("webhook-id", ""))
        if not self.verify(request.headers, body):
            self.invalid += 1
            return web.Response(status=400)
        if self.status != 200:
            return web.Response(status=self.status)
        self.received.append({"id": request.headers["webhook-id"], **json.loads(body)})
        return web.Response(status=200)


@pytest.fixture
async def receiver():
    recv = Receiver()
    app = web.Application()
    app.router.add_post("/hook", recv.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    recv.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/hook"
    yield recv
    await runner.cleanup()


async def secret_of(http, daemon, key):
    async with http.get(daemon.api_url + "/v1/webhooks/secret", headers={"Authorization": f"Bearer {key}"}) as r:
        assert r.status == 200
        return (await r.json())["secret"]


async def test_signed_order_webhooks(http, daemon, keys, receiver):
    receiver.secret = await secret_of(http, daemon, keys["trader"])
    assert receiver.secret.startswith("whsec_")
    order = {"symbol": "BTC/USDT", "side": "BUY", "quantity": "0.01", "order_type": "MARKET",
             "callback_url": receiver.url}
    async with http.post(daemon.api_url + "/v1/orders", json=order, headers=keys.headers("trader")) as r:
        handle = await r.json()
        assert r.status == 201
    await wait_for(lambda: {"order.accepted", "order.filled"} <= {m["type"] for m in receiver.received}, 5,
                   what="order.accepted and order.filled")
    assert receiver.invalid == 0
    filled = next(m for m in receiver.received if m["type"] == "order.filled")
    assert filled["data"]["order"]["id"] == handle["id"] and filled["data"]["order"]["status"] == "FILLED"
    assert filled["timestamp"] and filled["id"].startswith("msg_")
    # a tampered body fails the receiver's check
    assert not receiver.verify({"webhook-id": "msg_x", "webhook-timestamp": str(int(time.time())),
                                "webhook-signature": "v1,AAAA"}, b"{}")


async def test_key_webhook_rejection_and_cancel_events(http, daemon, receiver):
    store = KeyStore(daemon.store.conn)
    key, secret = store.create("hooked", frozenset({"read", "trade"}), webhook_url=receiver.url)
    receiver.secret = key.webhook_secret
    headers = {"Authorization": f"Bearer {secret}"}
    order = {"symbol": "BTC/USDT", "side": "BUY", "quantity": "0.01", "order_type": "LIMIT", "limit_price": "60000"}
    async with http.post(daemon.api_url + "/v1/orders", json=order, headers=headers) as r:
        handle = await r.json()
    async with http.delete(f"{daemon.api_url}/v1/orders/{handle['id']}", headers=headers) as r:
        assert r.status == 202
    await wait_for(lambda: "order.canceled" in {m["type"] for m in receiver.received}, 5, what="order.canceled")
    async with http.post(f"{daemon.sims[0].url}/_sim/balances", json={"USDT": "5"}) as r:
        assert r.status == 200
    async with http.post(daemon.api_url + "/v1/orders", json=order, headers=headers) as r:
        assert r.status == 422
    await wait_for(lambda: "order.rejected" in {m["type"] for m in receiver.received}, 5, what="order.rejected")
    assert receiver.invalid == 0


async def test_dead_letter_after_last_retry_then_retry(http, make_daemon, receiver):
    daemon = await make_daemon(ApiOptions(webhook_max_attempts=3, webhook_backoff=0.05))
    keys = make_keys(daemon)
    receiver.secret = await secret_of(http, daemon, keys["trader"])
    receiver.status = 500
    order = {"symbol": "BTC/USDT", "side": "BUY", "quantity": "0.01", "order_type": "LIMIT", "limit_price": "60000",
             "callback_url": receiver.url}
    async with http.post(daemon.api_url + "/v1/orders", json=order, headers=keys.headers("trader")) as r:
        assert r.status == 201

    async def dead():
        async with http.get(daemon.api_url + "/v1/webhooks/dead-letters", headers=keys.headers("trader")) as r:
            return (await r.json())["dead_letters"]
    letters = await wait_for(dead, 5, what="a dead letter")
    letter = letters[0]
    assert letter["event_type"] == "order.accepted" and letter["attempts"] == 3 and letter["last_error"] == "HTTP 500"
    assert receiver.attempts.count(letter["id"]) == 3          # the same webhook-id on every retry
    # other keys do not see it; admins do
    async with http.get(daemon.api_url + "/v1/webhooks/dead-letters", headers=keys.headers("reader")) as r:
        assert (await r.json())["dead_letters"] == []
    async with http.get(daemon.api_url + "/v1/webhooks/dead-letters", headers=keys.headers("admin")) as r:
        assert [d["id"] for d in (await r.json())["dead_letters"]] == [letter["id"]]

    receiver.status = 200
    async with http.post(f"{daemon.api_url}/v1/webhooks/dead-letters/{letter['id']}/retry",
                         headers=keys.headers("trader")) as r:
        assert r.status == 202 and (await r.json()) == {"id": letter["id"], "status": "pending"}
    await wait_for(lambda: any(m["id"] == letter["id"] for m in receiver.received), 5, what="redelivery")
    assert await dead() == []
    async with http.post(f"{daemon.api_url}/v1/webhooks/dead-letters/{letter['id']}/retry",
                         headers=keys.headers("trader")) as r:
        assert r.status == 404
    text = daemon.metrics.render().decode()
    assert 'tradewire_webhook_deliveries_total{outcome="dead_lettered"} 1.0' in text
    assert 'tradewire_webhook_deliveries_total{outcome="delivered"}' in text


async def test_delivered_messages_are_pruned_after_retention(http, daemon, keys, receiver):
    receiver.secret = await secret_of(http, daemon, keys["trader"])
    order = {"symbol": "BTC/USDT", "side": "BUY", "quantity": "0.01", "order_type": "MARKET",
             "callback_url": receiver.url}
    async with http.post(daemon.api_url + "/v1/orders", json=order, headers=keys.headers("trader")) as r:
        assert r.status == 201
    await wait_for(lambda: {"order.accepted", "order.filled"} <= {m["type"] for m in receiver.received}, 5,
                   what="deliveries")
    conn = daemon.store.conn
    await wait_for(lambda: conn.execute("SELECT count(*) FROM api_webhooks WHERE status = 'delivered'")
                   .fetchone()[0] >= 2, 5, what="delivered rows")
    outbox = api_of(daemon.api_runner.app).outbox
    assert outbox.prune(time.time() - 3600) == 0            # younger than the retention: kept
    assert outbox.prune(time.time() + 1) >= 2                # older: gone
    assert conn.execute("SELECT count(*) FROM api_webhooks WHERE status = 'delivered'").fetchone()[0] == 0
