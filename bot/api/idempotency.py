"""Idempotent order creation: a ``client_order_id`` or ``Idempotency-Key`` maps to exactly one order for the
order's life. Each key's request hash is stored (table ``api_idempotency``) so a replay with the same body
gets the existing order and one with a different body a 409. Concurrent requests with one key serialise on
an in-process lock; the deterministic venue client id and the store's unique index back that up."""
from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson


def request_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


class Idempotency:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def locked(self, owner: str, keys: list[str]) -> AsyncIterator[None]:
        names = sorted({(owner, k) for k in keys})
        locks = []
        for name in names:
            lock, users = self._locks.get(name, (None, 0))
            lock = lock or asyncio.Lock()
            self._locks[name] = (lock, users + 1)
            locks.append((name, lock))
        acquired: list[asyncio.Lock] = []
        try:
            for _, lock in locks:
                await lock.acquire()
                acquired.append(lock)
            yield
        finally:
            for lock in acquired:
                lock.release()
            for name, lock in locks:
                current, users = self._locks[name]
                if users <= 1:
                    del self._locks[name]
                else:
                    self._locks[name] = (current, users - 1)

    def find(self, owner: str, keys: list[str]) -> list[tuple[str, str, str]]:
        """(idem_key, request_hash, order_id) for each key already used by ``owner``."""
        found = []
        for key in keys:
            row = self.conn.execute("SELECT request_hash, order_id FROM api_idempotency WHERE owner = ? AND idem_key = ?",
                                    (owner, key)).fetchone()
            if row is not None:
                found.append((key, row[0], row[1]))
        return found

    def record(self, owner: str, keys: list[str], digest: str, order_id: str) -> None:
        now = time.time()
        for key in keys:
            self.conn.execute("INSERT OR IGNORE INTO api_idempotency (owner, idem_key, request_hash, order_id,"
                              " created_at) VALUES (?, ?, ?, ?, ?)", (owner, key, digest, order_id, now))
