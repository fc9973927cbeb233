"""Outbound webhooks: a durable SQLite outbox (table ``api_webhooks``) filled from the event bus and drained
off the trading path by a background task, with retries, exponential backoff and a dead-letter list.

Messages are signed per Standard Webhooks (https://www.standardwebhooks.com): headers ``webhook-id`` (stable
across retries), ``webhook-timestamp`` (seconds) and ``webhook-signature: v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">`` keyed with the base64-decoded part of the API key's ``whsec_…`` secret.
Body: ``{"type": "order.filled", "timestamp": "...", "data": {...}}``.

Events: order.accepted, order.rejected, order.filled, order.canceled (for the orders an API key placed,
to the order's ``callback_url`` and the key's configured webhook URL), position.unprotected and
position.flattened (to the key whose entry it was; for other entries to admin keys with a webhook URL).
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import random
import secrets
import sqlite3
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import aiohttp

from bot.api.core import ApiOptions, dumps
from bot.api.views import iso
from bot.obs.logging import redact

if TYPE_CHECKING:
    from bot.api.keys import KeyStore

log = logging.getLogger("tradewire.api.webhooks")

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


class Outbox:
    def __init__(self, conn: sqlite3.Connection, keys: "KeyStore", options: ApiOptions, metrics: Any = None):
        self.conn = conn
        self.keys = keys
        self.options = options
        self.metrics = metrics
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._inflight: set[str] = set()
        self._deliveries: set[asyncio.Task[None]] = set()
        # order id → (key name, callback url); an LRU of recent API orders so the bus callback stays O(1).
        self._targets: OrderedDict[str, tuple[str, str | None] | None] = OrderedDict()
        self._accepted: set[str] = set()

    # -- destinations ---------------------------------------------------------------------------------------

    def register(self, order_id: str, key_name: str, callback_url: str | None) -> None:
        self._remember(order_id, (key_name, callback_url))

    def _remember(self, order_id: str, target: tuple[str, str | None] | None) -> None:
        self._targets[order_id] = target
        self._targets.move_to_end(order_id)
        while len(self._targets) > 10_000:
            self._targets.popitem(last=False)

    def _target(self, order_id: str | None) -> tuple[str, str | None] | None:
        if not order_id:
            return None
        if order_id in self._targets:
            return self._targets[order_id]
        row = self.conn.execute("SELECT key_name, callback_url FROM api_orders WHERE order_id = ?",
                                (order_id,)).fetchone()
        target = (row[0], row[1]) if row else None
        self._remember(order_id, target)
        return target

    def _urls(self, target: tuple[str, str | None] | None) -> list[tuple[str | None, str]]:
        if target is None:
            return [(k.name, k.webhook_url) for k in self.keys.admin_webhook_keys() if k.webhook_url]
        key_name, callback = target
        urls: list[tuple[str | None, str]] = []
        if callback:
            urls.append((key_name, callback))
        key = self.keys.get(key_name)
        if key is not None and key.revoked_at is None and key.webhook_url and key.webhook_url != callback:
            urls.append((key_name, key.webhook_url))
        return urls

    # -- from the event bus (synchronous, quick) ----------------------------------------------------------

    def on_event(self, kind: str, payload: dict[str, Any]) -> None:
        if kind == "order.updated":
            order = payload.get("order") or {}
            if order.get("signal_key"):
                return                                   # a signal's order: no API key to tell
            target = self._target(order.get("id")) or self._target(order.get("parent_id"))
            if target is None:
                return
            for event in self._order_events(order, payload.get("previous_status")):
                self.enqueue(event, {"order": order}, self._urls(target))
        elif kind == "error" and payload.get("code") == "POSITION_UNPROTECTED":
            data = {k: v for k, v in payload.items() if k not in ("type", "ts")}
            self.enqueue("position.unprotected", data, self._urls(self._target(payload.get("order_id"))))
        elif kind == "position.flattened":
            data = {k: v for k, v in payload.items() if k not in ("type", "ts")}
            self.enqueue("position.flattened", data, self._urls(self._target(payload.get("entry_id"))))

    def _order_events(self, order: dict[str, Any], previous: str | None) -> list[str]:
        status = order.get("status")
        events = []
        order_id = order.get("id", "")
        if status in ("OPEN", "PARTIALLY_FILLED", "FILLED") and order_id not in self._accepted \
                and previous in (None, "PENDING"):
            self._accepted.add(order_id)
            if len(self._accepted) > 10_000:
                self._accepted.clear()
            events.append("order.accepted")
        if status == "FILLED":
            events.append("order.filled")
        elif status == "REJECTED":
            events.append("order.rejected")
        elif status in ("CANCELED", "EXPIRED"):
            events.append("order.canceled")
        return events

    def enqueue(self, event_type: str, data: dict[str, Any], urls: list[tuple[str | None, str]]) -> list[str]:
        ids = []
        now = time.time()
        for key_name, url in urls:
            msg_id = "msg_" + secrets.token_hex(12)
            body = {"type": event_type, "timestamp": iso(now), "data": data}
            self.conn.execute(
                "INSERT INTO api_webhooks (id, key_name, url, event_type, payload, status, attempts, next_attempt_at,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
                (msg_id, key_name, url, event_type, dumps(body).decode(), PENDING, now, now, now))
            ids.append(msg_id)
        if ids:
            self._wake.set()
        return ids

    # -- delivery -----------------------------------------------------------------------------------------

    def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.options.webhook_timeout))
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._deliveries:
            await asyncio.gather(*list(self._deliveries), return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def prune(self, before: float) -> int:
        """Drops delivered messages last touched before ``before`` (dead letters stay until retried)."""
        cursor = self.conn.execute("DELETE FROM api_webhooks WHERE status = ? AND updated_at < ?",
                                   (DELIVERED, before))
        return cursor.rowcount

    async def _run(self) -> None:
        pruned_at = 0.0
        while True:
            if time.time() - pruned_at > 3600:        # hourly: the outbox must not grow with every event
                pruned_at = time.time()
                self.prune(pruned_at - self.options.webhook_retention)
            try:
                delay = self._dispatch_due()
            except Exception:
                log.exception("webhook outbox failed; retrying")
                delay = 1.0
            self._wake.clear()
            try:
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            except asyncio.TimeoutError:
                pass

    def _dispatch_due(self) -> float:
        now = time.time()
        free = self.options.webhook_concurrency - len(self._deliveries)
        if free > 0:
            rows = self.conn.execute(
                "SELECT * FROM api_webhooks WHERE status = ? AND next_attempt_at <= ? ORDER BY next_attempt_at"
                " LIMIT ?", (PENDING, now, free + len(self._inflight))).fetchall()
            for row in rows:
                if row["id"] in self._inflight or free <= 0:
                    continue
                free -= 1
                self._inflight.add(row["id"])
                task = asyncio.create_task(self._deliver(dict(row)))
                self._deliveries.add(task)
                task.add_done_callback(self._delivered)
        row = self.conn.execute("SELECT min(next_attempt_at) FROM api_webhooks WHERE status = ?",
                                (PENDING,)).fetchone()
        if row is None or row[0] is None:
            return 5.0
        return min(5.0, max(0.01, row[0] - time.time()))

    def _delivered(self, task: asyncio.Task[None]) -> None:
        self._deliveries.discard(task)
        self._wake.set()

    async def _deliver(self, row: dict[str, Any]) -> None:
        msg_id = row["id"]
        try:
            error = await self._post(row)
        except Exception as exc:  # never let one delivery break the loop
            error = f"{type(exc).__name__}: {exc}"
        finally:
            self._inflight.discard(msg_id)
        now = time.time()
        attempts = row["attempts"] + 1
        if error is None:
            self.conn.execute("UPDATE api_webhooks SET status = ?, attempts = ?, updated_at = ?, last_error = NULL"
                              " WHERE id = ?", (DELIVERED, attempts, now, msg_id))
            self._count("delivered")
            return
        error = redact(error)[:500]
        if attempts >= self.options.webhook_max_attempts:
            self.conn.execute("UPDATE api_webhooks SET status = ?, attempts = ?, updated_at = ?, last_error = ?"
                              " WHERE id = ?", (DEAD, attempts, now, error, msg_id))
            self._count("dead_lettered")
            log.warning("webhook %s %s to %s dead-lettered after %d attempts: %s", msg_id, row["event_type"],
                        row["url"], attempts, error)
            return
        backoff = min(self.options.webhook_max_backoff, self.options.webhook_backoff * 2 ** (attempts - 1))
        backoff *= 0.75 + random.random() / 2
        self.conn.execute("UPDATE api_webhooks SET attempts = ?, next_attempt_at = ?, updated_at = ?, last_error = ?"
                          " WHERE id = ?", (attempts, now + backoff, now, error, msg_id))
        self._count("failed")

    async def _post(self, row: dict[str, Any]) -> str | None:
        key = self.keys.get(row["key_name"]) if row["key_name"] else None
        if key is None:
            return "the API key of this webhook no longer exists"
        body = row["payload"].encode()
        timestamp = int(time.time())
        headers = {"content-type": "application/json", "webhook-id": row["id"],
                   "webhook-timestamp": str(timestamp),
                   "webhook-signature": sign(key.webhook_secret, row["id"], timestamp, body),
                   "user-agent": "tradewire-webhooks/1"}
        assert self._session is not None
        async with self._session.post(row["url"], data=body, headers=headers, allow_redirects=False) as response:
            await response.read()
            if 200 <= response.status < 300:
                return None
            return f"HTTP {response.status}"

    def _count(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.webhook_deliveries.labels(outcome=outcome).inc()

    # -- dead letters -------------------------------------------------------------------------------------

    def dead_letters(self, key_name: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        sql = "SELECT * FROM api_webhooks WHERE status = ?"
        args: list[Any] = [DEAD]
        if key_name is not None:
            sql += " AND key_name = ?"
            args.append(key_name)
        rows = self.conn.execute(sql + " ORDER BY updated_at DESC LIMIT ?", (*args, limit)).fetchall()
        import orjson
        return [{"id": r["id"], "event_type": r["event_type"], "url": r["url"], "key_name": r["key_name"],
                 "attempts": r["attempts"], "last_error": r["last_error"], "created_at": r["created_at"],
                 "payload": orjson.loads(r["payload"])} for r in rows]

    def retry(self, msg_id: str, key_name: str | None = None) -> bool:
        sql = "UPDATE api_webhooks SET status = ?, attempts = 0, next_attempt_at = ?, updated_at = ? WHERE id = ?" \
              " AND status = ?"
        args: list[Any] = [PENDING, time.time(), time.time(), msg_id, DEAD]
        if key_name is not None:
            sql += " AND key_name = ?"
            args.append(key_name)
        changed = self.conn.execute(sql, args).rowcount == 1
        if changed:
            self._wake.set()
        return changed

    def status_of(self, msg_id: str) -> str | None:
        row = self.conn.execute("SELECT status FROM api_webhooks WHERE id = ?", (msg_id,)).fetchone()
        return row[0] if row else None
