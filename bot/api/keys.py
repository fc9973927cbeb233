"""API keys: ``tw_<key id>_<secret>``, stored only as a SHA-256 hash (the key is 256 bits of randomness, so a
fast hash is enough). Authentication looks the row up by the key id and compares hashes in constant time.
Each key also carries its scopes, its rate limit and its webhook signing secret (``whsec_…``)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import sqlite3
import time
from dataclasses import dataclass

from bot.api import tables

SCOPES = ("read", "trade", "signal", "admin")
NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
DEFAULT_RATE_LIMIT = 3000
DEFAULT_RATE_WINDOW = 10.0
_DUMMY_HASH = hashlib.sha256(b"tradewire-no-such-key").hexdigest()


class KeyProblem(Exception):
    """A key operation that cannot be done (the message says why)."""


@dataclass(frozen=True)
class ApiKey:
    name: str
    key_id: str
    scopes: frozenset[str]
    rate_limit: int
    rate_window: float
    webhook_url: str | None
    webhook_secret: str
    created_at: float
    revoked_at: float | None = None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def parse_scopes(text: str) -> frozenset[str]:
    scopes = frozenset(s.strip() for s in text.split(",") if s.strip())
    unknown = scopes - set(SCOPES)
    if not scopes or unknown:
        raise KeyProblem(f"scopes must be a comma-separated subset of {','.join(SCOPES)}"
                        + (f" (unknown: {','.join(sorted(unknown))})" if unknown else ""))
    return scopes


class KeyStore:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        tables.create(conn)

    @staticmethod
    def _row(row: sqlite3.Row) -> ApiKey:
        return ApiKey(name=row["name"], key_id=row["key_id"], scopes=frozenset(row["scopes"].split(",")),
                      rate_limit=row["rate_limit"], rate_window=row["rate_window"], webhook_url=row["webhook_url"],
                      webhook_secret=row["webhook_secret"], created_at=row["created_at"],
                      revoked_at=row["revoked_at"])

    def create(self, name: str, scopes: frozenset[str], *, rate_limit: int = DEFAULT_RATE_LIMIT,
               rate_window: float = DEFAULT_RATE_WINDOW, webhook_url: str | None = None,
               replace: bool = False) -> tuple[ApiKey, str]:
        """Creates a key; returns it and the secret (shown once, never stored)."""
        import re
        if not re.match(NAME_PATTERN, name):
            raise KeyProblem("key names are 1-64 characters of letters, digits, '_', '.', '-'")
        existing = self.conn.execute("SELECT revoked_at FROM api_keys WHERE name = ?", (name,)).fetchone()
        if existing is not None and existing["revoked_at"] is None and not replace:
            raise KeyProblem(f"a key named {name!r} exists; revoke it first or choose another name")
        key_id = secrets.token_hex(6)
        secret = f"tw_{key_id}_{secrets.token_urlsafe(32)}"
        now = time.time()
        self.conn.execute(
            "INSERT OR REPLACE INTO api_keys (name, key_id, key_hash, scopes, created_at, revoked_at, rate_limit,"
            " rate_window, webhook_url, webhook_secret) VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?)",
            (name, key_id, hash_key(secret), ",".join(sorted(scopes)), now, rate_limit, rate_window, webhook_url,
             new_webhook_secret()))
        key = self.get(name)
        assert key is not None
        return key, secret

    def get(self, name: str) -> ApiKey | None:
        row = self.conn.execute("SELECT * FROM api_keys WHERE name = ?", (name,)).fetchone()
        return self._row(row) if row else None

    def list(self) -> list[ApiKey]:
        return [self._row(r) for r in self.conn.execute("SELECT * FROM api_keys ORDER BY created_at")]

    def revoke(self, name: str) -> bool:
        cursor = self.conn.execute("UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                                   (time.time(), name))
        return cursor.rowcount == 1

    def authenticate(self, presented: str | None) -> ApiKey | None:
        """The live key whose hash matches ``presented``, else None (constant-time comparison)."""
        if not presented or len(presented) > 256:
            return None
        parts = presented.split("_", 2)
        key_id = parts[1] if len(parts) == 3 and parts[0] == "tw" else ""
        row = self.conn.execute("SELECT * FROM api_keys WHERE key_id = ?", (key_id,)).fetchone() if key_id else None
        expected = row["key_hash"] if row is not None else _DUMMY_HASH
        matches = hmac.compare_digest(expected.encode(), hash_key(presented).encode())
        if row is None or not matches or row["revoked_at"] is not None:
            return None
        return self._row(row)

    def admin_webhook_keys(self) -> list[ApiKey]:
        return [k for k in self.list() if k.revoked_at is None and k.webhook_url and "admin" in k.scopes]
