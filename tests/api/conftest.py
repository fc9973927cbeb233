"""Fixtures: a real Daemon (in-process simulator, temp state dir, permissive policy) serving the API on a free
loopback port, API keys of every scope, and an HTTP session."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.api import ApiOptions
from bot.api.keys import KeyStore
from bot.daemon import Daemon
from bot.settings import Settings

POLICY = """
version: 1
mode: enforce
defaults:
  order: {max_notional: "50000", min_notional: "1", max_slippage_bps: 500,
          allowed_types: [MARKET, LIMIT, LIMIT_MAKER, STOP, STOP_LIMIT]}
  position: {max_notional: "1000000", max_open_orders: 100}
  signal: {max_age: 1h, min_confidence: 0}
  protection: {require_stop_loss: false, on_leg_failure: alert, leg_retries: 1}
symbols:
  allow: ["*/USDT"]
  deny: ["LUNA/USDT"]
venues:
  default: {breaker: {consecutive_failures: 50, cooldown: 30s}}
"""

TV_SECRET = "tv-test-secret-123"


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    policy = tmp_path / "policy.yaml"
    if not policy.exists():
        policy.write_text(POLICY)
    data: dict[str, Any] = {
        "state_dir": tmp_path / "state",
        "api": {"listen": "127.0.0.1:0", "ack_timeout": 2.0},
        "accounts": {"main": {"venue": "sim", "url": None}},
        "sources": [
            {"name": "tv", "kind": "webhook", "format": "tradingview", "secret": {"env": "TW_TEST_TV_SECRET"}},
            {"name": "hook", "kind": "webhook", "format": "native"},
            {"name": "faraway", "kind": "webhook", "format": "tradingview", "secret": {"env": "TW_TEST_TV_SECRET"},
             "allow_ips": ["10.0.0.0/8"]},
        ],
        "strategies": [{"name": "follow", "handler": "strategies.follow:Follow", "sources": ["tv", "hook"],
                        "account": "main", "params": {"notional": "100"}}],
        "policy": policy,
        "sim": {"price_model": "static", "seed": 1},
        "execution": {"unknown_grace": 0.2},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return Settings(**data)


DaemonFactory = Callable[..., Awaitable[Daemon]]


@pytest.fixture
async def make_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DaemonFactory]:
    monkeypatch.setenv("TW_TEST_TV_SECRET", TV_SECRET)
    started: list[Daemon] = []

    async def make(options: ApiOptions | None = None, **overrides: Any) -> Daemon:
        root = tmp_path / f"d{len(started)}"
        root.mkdir()
        daemon = Daemon(settings_for(root, **overrides))
        daemon.api_options = options or ApiOptions()   # read by bot.api.create_app
        started.append(daemon)
        await daemon.start()
        return daemon

    yield make
    for daemon in reversed(started):
        await daemon.stop()


@pytest.fixture
async def daemon(make_daemon: DaemonFactory) -> Daemon:
    return await make_daemon()


class Keys(dict):
    """name → secret; ``.headers(name)`` gives the Authorization header."""

    def headers(self, name: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self[name]}", **extra}


def make_keys(daemon: Daemon) -> Keys:
    store = KeyStore(daemon.store.conn)
    keys = Keys()
    for name, scopes, extra in [
        ("admin", {"read", "trade", "signal", "admin"}, {}),
        ("reader", {"read"}, {}),
        ("trader", {"read", "trade"}, {}),
        ("tradeonly", {"trade"}, {}),
        ("signaler", {"signal"}, {}),
        ("limited", {"read"}, {"rate_limit": 3, "rate_window": 60}),
    ]:
        _, secret = store.create(name, frozenset(scopes), **extra)
        keys[name] = secret
    return keys


@pytest.fixture
def keys(daemon: Daemon) -> Keys:
    return make_keys(daemon)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.05,
                   what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(interval)


async def sim_orders(http: aiohttp.ClientSession, daemon: Daemon, client_id: str | None = None) -> list[dict]:
    async with http.get(f"{daemon.sims[0].url}/_sim/state") as response:
        state = await response.json()
    orders = state["orders"]
    return [o for o in orders if client_id is None or o["clientOrderId"] == client_id]
