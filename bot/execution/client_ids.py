"""Deterministic venue client ids: the same (account, source, reference, leg) always gives the same id, so
a retried or replayed request maps onto the order already persisted instead of creating another.

Format ``<readable ref>-<hash>-<leg>``, at most 36 characters of ``[A-Za-z0-9_-]`` (Binance's rules
are a superset). The readable part lets a human match venue orders to signals; the 10 hex digits of
SHA-256 over the full tuple keep ids distinct when the readable part is truncated or sanitised.
"""
from __future__ import annotations

import hashlib
import re

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
MAX_LEN = 36


def client_id(account: str, source: str, ref: str, leg: str = "e") -> str:
    digest = hashlib.sha256(f"{account}\x1f{source}\x1f{ref}\x1f{leg}".encode()).hexdigest()[:10]
    leg_part = _UNSAFE.sub("", leg)[:8] or "x"
    room = MAX_LEN - len(digest) - len(leg_part) - 2
    readable = _UNSAFE.sub("_", ref).strip("_")[-room:] or "o"
    return f"{readable}-{digest}-{leg_part}"


VALID = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
