"""The daemon in-process for benchmarks: the real ``Daemon`` (store, policy, strategies, execution, venues,
API) built from settings, pointed at a simulator in another process, with bench-only observation hooks:

- every ``CcxtVenue`` gets a ``WireTracer`` (wire timestamps per client order id), by substituting a traced
  subclass for the name ``bot.daemon.CcxtVenue`` while the daemon builds its venues;
- the order ledger gets callbacks (inserted first) that stamp each order's first acknowledgement, each fill
  event, and each leg/flatten order's parent;
- signals are driven as the websocket source does it: a frame's JSON is decoded, ``submit_payload`` is
  awaited, the seq is saved; one frame at a time.
"""
from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aiohttp import web

import bot.daemon as daemon_module
from bench.common import WireTracer
from bot.daemon import Daemon
from bot.model import OrderStatus
from bot.settings import Settings
from bot.venues.ccxt_venue import CcxtVenue

SOURCE = "bench"
DENIED = "LUNA/USDT"


def policy_yaml(*, leg_retries: int = 1, rate: int = 10_000_000) -> str:
    big = '"1000000000000"'
    return f"""version: 1
mode: enforce
defaults:
  order: {{max_notional: {big}, min_notional: "1", max_slippage_bps: 500, allowed_types: [MARKET, LIMIT, STOP_LIMIT]}}
  position: {{max_notional: {big}, max_open_orders: 1000000}}
  signal: {{max_age: 1h, min_confidence: 0}}
  protection: {{require_stop_loss: false, on_leg_failure: flatten, leg_retries: {leg_retries}}}
  market: {{max_quote_age: 1d}}
symbols:
  allow: ["*/USDT"]
  deny: ["{DENIED}"]
accounts:
  main: {{max_gross_exposure: {big}, daily_loss_limit: {big}, max_drawdown_pct: 100, on_limit: reduce_only}}
sources:
  {SOURCE}:
    rate: {{max: {rate}, per: 1s}}
"""


def settings_for(state_dir: Path, sim_url: str, symbols: list[str], *, api: bool = True,
                 log_level: str = "INFO", leg_retries: int = 1) -> Settings:
    policy = state_dir / "policy.yaml"
    policy.write_text(policy_yaml(leg_retries=leg_retries))
    return Settings(
        state_dir=state_dir, log_level=log_level,
        api={"listen": "127.0.0.1:0"},
        accounts={"main": {"venue": "sim", "url": sim_url, "symbols": symbols}},
        sources=[{"name": SOURCE, "kind": "webhook", "format": "native"}],
        strategies=[{"name": "follow", "handler": "strategies.follow:Follow", "sources": [SOURCE],
                     "account": "main", "params": {"notional": "100"}}],
        policy=policy,
        execution={"orders_per_10s": 100_000_000, "unknown_grace": 0.2, "reconcile_interval": 3600},
    )


def quantity_for(price: float, notional: float = 50.0) -> str:
    """A quantity worth about ``notional`` quote units (above every min-notional filter, far below limits)."""
    return f"{notional / price:.5f}" if price else "0.001"


def signal(n: int, symbol: str, *, side: str | None = None, protect: bool = False, price: float = 0.0,
           run: str = "", every: int = 1) -> dict[str, Any]:
    """Signal ``n``; sides alternate per symbol (``every`` = how many symbols rotate) so positions stay flat."""
    body: dict[str, Any] = {
        "id": f"b{run}-{n}", "source": SOURCE, "symbol": symbol, "action": "open",
        "side": side or ("buy" if (n // every) % 2 == 0 else "sell"), "size": {"quantity": quantity_for(price)},
        "confidence": 0.9, "generated_at": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
    }
    if protect and price:
        sign = 1 if body["side"] == "buy" else -1
        body["stop_loss"] = f"{price * (1 - sign * 0.05):.2f}"
        body["take_profit"] = [f"{price * (1 + sign * 0.05):.2f}"]
    return body


def frame(seq: int, body: dict[str, Any]) -> str:
    return json.dumps({"type": "signal", "seq": seq, "signal": body})


@dataclass
class Observed:
    received: dict[str, float] = field(default_factory=dict)     # signal key → frame received
    ack: dict[str, float] = field(default_factory=dict)          # client id → first non-PENDING status
    fill: dict[str, float] = field(default_factory=dict)         # entry id → first fill event
    parent: dict[str, str] = field(default_factory=dict)         # leg/flatten client id → entry id
    leg_kind: dict[str, str] = field(default_factory=dict)       # client id → leg value


class BenchStack:
    """A running daemon plus its observation hooks. ``async with BenchStack(...) as stack:``"""

    def __init__(self, sim_url: str, symbols: list[str], *, state_dir: Path | None = None, api: bool = True,
                 leg_retries: int = 1, log_path: Path | None = None):
        self._tmp = None if state_dir else tempfile.TemporaryDirectory(prefix="twbench-")
        self.state_dir = Path(state_dir or self._tmp.name)
        self.sim_url = sim_url
        self.symbols = symbols
        self.settings = settings_for(self.state_dir, sim_url, symbols, api=api, leg_retries=leg_retries)
        self.tracer = WireTracer()
        self.obs = Observed()
        self.seq = 0
        self.log_path = log_path or self.state_dir / "daemon.log"
        self._log = None
        self.api_timings: list[tuple[str, int, float, str | None]] = []

    async def __aenter__(self) -> "BenchStack":
        from bot.obs.logging import configure_logging

        # Production logging (INFO, JSON lines) into a file: its cost is part of Tradewire's time.
        self._log = open(self.log_path, "a")
        configure_logging(self.settings.log_level, json=True, stream=self._log)
        tracer = self.tracer

        class TracedVenue(CcxtVenue):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                tracer.attach(self.exchange)

        import bot.api.server as api_server

        timings = self.api_timings

        @web.middleware
        async def timer(request, handler):
            started = time.perf_counter()
            response = await handler(request)
            seconds = time.perf_counter() - started
            order_id = None
            if request.method == "POST" and request.path == "/v1/orders":
                try:
                    order_id = json.loads(response.body).get("id")
                except (TypeError, ValueError, AttributeError):
                    pass
            timings.append((request.path, response.status, seconds, order_id))
            return response

        original_create_app = api_server.create_app

        def create_app(daemon, options=None):
            app = original_create_app(daemon, options)
            app.middlewares.insert(0, timer)      # outermost: the whole of Tradewire's handling
            return app

        saved = daemon_module.CcxtVenue
        daemon_module.CcxtVenue = TracedVenue
        api_server.create_app = create_app
        self.daemon = Daemon(self.settings)
        started = time.perf_counter()
        try:
            await self.daemon.start()
        finally:
            daemon_module.CcxtVenue = saved
            api_server.create_app = original_create_app
        self.start_wall = time.perf_counter() - started
        self.pipeline = self.daemon.pipeline
        self.execution = self.daemon.execution
        ledger = self.execution.ledger
        ledger.on_change.insert(0, self._on_change)
        ledger.on_fill.insert(0, self._on_fill)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.daemon.stop()
        if self._log is not None:
            self._log.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def _on_change(self, order, previous) -> None:
        now = time.perf_counter()
        if order.parent_id:
            self.obs.parent.setdefault(order.client_id, order.parent_id)
            self.obs.leg_kind.setdefault(order.client_id, order.leg.value)
        if order.status is not OrderStatus.PENDING and order.client_id not in self.obs.ack:
            self.obs.ack[order.client_id] = now

    def _on_fill(self, order, fill, realized) -> None:
        self.obs.fill.setdefault(order.id, time.perf_counter())

    async def feed(self, text: str):
        """One frame as the websocket source handles it; returns (received, result)."""
        received = time.perf_counter()
        data = json.loads(text)
        result = await self.pipeline.submit_payload(data["signal"], SOURCE, "native", None, received)
        self.seq = data["seq"]
        self.daemon.store.put_json(f"source_seq:{SOURCE}", self.seq)
        if result.orders:       # only orders are joined to their frame; rejected signals must not grow this
            self.obs.received[result.key] = received
        return received, result

    def in_flight(self) -> int:
        return len(self.execution._sends)

    async def wait_idle(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while (self.execution._sends or self.execution.protection._tasks) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    def prices(self) -> dict[str, float]:
        out = {}
        for symbol in self.symbols:
            price = self.daemon.market.price(symbol)
            out[symbol] = float(price) if price is not None else 100.0
        return out


def rss_self() -> float:
    from bench.common import rss_mb
    return rss_mb(os.getpid())
