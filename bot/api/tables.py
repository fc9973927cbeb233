"""The API's own SQLite tables, in the daemon's database (``<state_dir>/tradewire.db``): API keys,
idempotency records, API order metadata (key, client_order_id, callback_url) and the webhook outbox."""
from __future__ import annotations

import sqlite3

SQL = """
CREATE TABLE IF NOT EXISTS api_keys (
    name TEXT PRIMARY KEY,
    key_id TEXT NOT NULL UNIQUE,
    key_hash TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL,
    rate_limit INTEGER NOT NULL DEFAULT 3000,
    rate_window REAL NOT NULL DEFAULT 10,
    webhook_url TEXT,
    webhook_secret TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_idempotency (
    owner TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    order_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (owner, idem_key)
);
CREATE TABLE IF NOT EXISTS api_orders (
    order_id TEXT PRIMARY KEY,
    key_name TEXT NOT NULL,
    client_order_id TEXT,
    callback_url TEXT,
    request_hash TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS api_orders_client_order_id ON api_orders (client_order_id);
CREATE TABLE IF NOT EXISTS api_webhooks (
    id TEXT PRIMARY KEY,
    key_name TEXT,
    url TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS api_webhooks_due ON api_webhooks (status, next_attempt_at);
"""


def create(conn: sqlite3.Connection) -> None:
    conn.executescript(SQL)
