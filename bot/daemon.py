"""The composition root: builds every component from settings, wires them, starts and stops them in order,
handles OS signals and sd_notify. No business logic lives here.

Start order: store → policy → (in-process simulator) → venues and markets → execution with start-up
reconciliation → undecided signals → API → signal sources → READY=1. Stop order is the reverse, with
in-flight submits given a grace period to finish before the store closes.
"""
from __future__ import annotations

import asyncio
import logging
import signal as os_signal
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.events import EventBus
from bot.execution import Execution
from bot.execution.market import MarketData
from bot.execution.protection import ProtectionRules
from bot.execution.submit import SubmitPolicy
from bot.intake.adapters import SignalError
from bot.intake.websocket import WebSocketSource
from bot.model import OrderStatus
from bot.obs import sdnotify
from bot.obs.logging import register_secret
from bot.obs.metrics import Metrics, serve_metrics
from bot.obs.scheduler import Jobs
from bot.pipeline import Route, SignalPipeline
from bot.policy import PolicyError, RiskGate, load_policy
from bot.policy.limits import symbol_limits
from bot.settings import ConfigError, Settings, host_port_of
from bot.sim import SimConfig, SimServer
from bot.sim.feed import FeedConfig, FeedServer
from bot.store import Store
from bot.strategy import StrategyError, StrategyLoadError, StrategyRunner, load_strategy
from bot.venues.ccxt_venue import CcxtVenue
from bot.venues.errors import VenueError

log = logging.getLogger("tradewire.daemon")

SIM_KEY, SIM_SECRET = "sim-key", "sim-secret"


class Daemon:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.bus = EventBus()
        self.metrics = Metrics(sources=[s.name for s in settings.sources], accounts=list(settings.accounts))
        self.started_at = time.time()
        self.ready = False
        self.sims: list[SimServer] = []
        self.feeds: list[FeedServer] = []
        self.venues: dict[str, CcxtVenue] = {}
        self.sources: list[WebSocketSource] = []
        self.routes: list[Route] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._stop = asyncio.Event()
        self.api_runner: Any = None
        self.metrics_runner: Any = None
        self.metrics_port: int | None = None
        self.api_options: Any = None      # bot.api.ApiOptions tunables (tests, embedding); None = defaults
        self.api_url: str | None = None
        self.demo_key: str | None = None
        self.unprotected: set[tuple[str, str]] = set()    # (account, entry order id)

    # -- building -----------------------------------------------------------------------------------

    def _policy(self) -> None:
        try:
            self.loaded_policy = load_policy(self.settings.policy)
        except PolicyError as exc:
            raise ConfigError(str(exc)) from None

    async def _venues(self) -> None:
        for name, account in self.settings.accounts.items():
            url = account.url
            if account.venue == "sim" and url is None:
                sim = SimServer(SimConfig(seed=self.settings.sim.seed, port=self.settings.sim.port,
                                          symbols=list(self.settings.sim.symbols),
                                          price_model=self.settings.sim.price_model,
                                          balances=dict(self.settings.sim.balances)))
                await sim.start()
                self.sims.append(sim)
                url = sim.url
                log.info("simulated exchange for account %s at %s", name, url)
            key = account.api_key.resolve() if account.api_key else (SIM_KEY if account.venue == "sim" else None)
            secret = account.secret.resolve() if account.secret else (SIM_SECRET if account.venue == "sim" else None)
            for ref, value in ((account.api_key, key), (account.secret, secret)):
                if ref is not None and value:   # configured credentials are secret, the simulator's defaults not
                    register_secret(value)
            venue = CcxtVenue(name, "binance" if account.venue == "sim" else account.venue, url=url,
                              api_key=key, secret=secret, options=account.options,
                              orders_per_10s=self.settings.execution.orders_per_10s,
                              on_request=self._venue_metrics(name))
            try:
                await venue.connect()
            except VenueError as exc:
                await venue.close()
                raise RuntimeError(f"account {name}: cannot connect to {account.venue}: {exc}") from exc
            self.venues[name] = venue

    @staticmethod
    def _set_aside(db: Path) -> None:
        """An in-process simulator starts empty every run, so state kept from the last run describes orders
        and positions that no longer exist anywhere: start a fresh database, keeping the last one beside it."""
        if not db.exists():
            return
        for suffix in ("", "-wal", "-shm"):
            part = db.with_name(db.name + suffix)
            if part.exists():
                part.replace(db.with_name(db.name + ".previous" + suffix))
        log.info("in-process simulator: previous run's database kept as %s.previous", db)

    def _venue_metrics(self, account: str):
        def observe(method: str, seconds: float, error: str | None) -> None:
            self.metrics.venue_request.labels(account=account, method=method).observe(seconds)
            if error:
                self.metrics.venue_errors.labels(account=account, kind=error).inc()
        return observe

    def _strategies(self) -> None:
        for spec in self.settings.strategies:
            try:
                handler = load_strategy(spec.handler, spec.params)
            except StrategyLoadError as exc:
                raise ConfigError(f"strategies.{spec.name}: {exc}") from None
            self.routes.append(Route(spec.name, StrategyRunner(spec.name, handler, spec.timeout), spec.account,
                                     frozenset(spec.sources), dict(spec.params)))

    def _rules_for(self, symbol: str) -> ProtectionRules:
        limits = symbol_limits(self.gate.loaded, symbol)
        return ProtectionRules(on_leg_failure=limits["protection.on_leg_failure"].value,
                               leg_retries=limits["protection.leg_retries"].value)

    def _wire_events(self) -> None:
        """Execution's outcomes feed the policy (reservations, PnL, breakers) and the metrics."""
        ledger = self.execution.ledger

        def on_change(order, previous: OrderStatus | None) -> None:
            self.metrics.orders.labels(account=order.account, status=order.status.value).inc()
            if previous is None or order.status.terminal:
                self.metrics.open_orders.labels(account=order.account).set(
                    sum(1 for o in ledger.live.values() if o.account == order.account))
            if order.status.terminal:
                self.gate.release(order.client_id)
            elif order.filled:
                self.gate.update_reservation(order.client_id, order.remaining)

        def on_fill(order, fill, realized: Decimal) -> None:
            position = self.execution.positions.get(order.account, order.symbol)
            if realized:
                self.gate.record_realized_pnl(order.account, realized)
                if order.origin_kind == "signal" and position.quantity == 0:
                    self.gate.record_closed_trade(order.origin_source, position.realized_pnl)
            if order.origin_kind == "signal":
                for route in self.routes:       # the strategies trading this source hear of its fills
                    if route.account == order.account and order.origin_source in route.sources:
                        asyncio.get_running_loop().create_task(self._strategy_fill(route, fill))

        ledger.on_change.append(on_change)
        ledger.on_fill.append(on_fill)
        self.bus.subscribe(self._log_event)
        self.bus.subscribe(self._count_protection)

    async def _strategy_fill(self, route: Route, fill) -> None:
        try:
            await route.runner.on_fill(fill, self.pipeline.context(route))
        except StrategyError as exc:
            self.gate.record_strategy_result(route.name, False)
            log.error("strategy %s failed on a fill: %s", route.name, exc)

    def _count_protection(self, kind: str, payload: dict) -> None:
        """Unprotected positions and flattens, from protection's own events."""
        if kind == "error" and payload.get("code") == "POSITION_UNPROTECTED":
            self.unprotected.add((payload["account"], payload["order_id"]))
        elif kind == "position.flattened":
            self.unprotected.discard((payload["account"], payload.get("entry_id")))
            self.metrics.flattens.labels(account=payload["account"], reason=payload.get("reason", "leg_failure")).inc()
        else:
            return
        for account in self.venues:
            self.metrics.unprotected_positions.labels(account=account).set(
                sum(1 for a, _ in self.unprotected if a == account))

    async def _mark_positions(self) -> None:
        """Position value and PnL gauges at current prices (a scheduled job, off the trading path)."""
        for account in self.venues:
            realized, unrealized = Decimal(0), Decimal(0)
            for symbol, position in self.execution.positions.for_account(account).items():
                price = self.market.price(symbol)
                realized += position.realized_pnl
                unrealized += position.unrealized(price) or Decimal(0)
                if price is not None:
                    self.metrics.set_position(account, symbol, position.quantity * price)
            self.metrics.realized_pnl.labels(account=account).set(float(realized))
            self.metrics.unrealized_pnl.labels(account=account).set(float(unrealized))

    def _on_policy_event(self, kind: str, payload: dict) -> None:
        self.bus.publish(kind, payload)
        self.store.put_json("policy_state", self.gate.export_state())
        if kind == "breaker.changed":
            self.metrics.set_breaker(payload.get("name", "?"), payload.get("state", "closed"))
        elif kind == "trading_state.changed":
            account = payload.get("account", "*")
            # A halt of every account comes as account "*": one series per configured account instead.
            for name in (list(self.settings.accounts) if account == "*" else [account]):
                self.metrics.set_trading_state(name, payload.get("state", "active"))

    @staticmethod
    def _log_event(kind: str, payload: dict) -> None:
        if kind == "order.updated":
            if payload["previous_status"] is None:
                return      # just created (PENDING): the decision line said so; its outcome follows
            o = payload["order"]
            log.info("order %s %s %s %s %s %s filled %s%s", o["id"], o["leg"], o["side"], o["quantity"], o["symbol"],
                     o["status"], o["filled_quantity"], f" ({o['error']})" if o.get("error") else "")
        elif kind == "fill":
            log.info("fill %s %s %s %s @ %s (%s leg)", payload["order_id"], payload["side"], payload["quantity"],
                     payload["symbol"], payload["price"], payload["leg"])
        elif kind == "position.updated":
            log.info("position %s %s qty %s avg %s realized %s", payload["account"], payload["symbol"],
                     payload["quantity"], payload["average_entry"], payload["realized_pnl"])
        elif kind in ("error", "position.flattened", "breaker.changed", "trading_state.changed"):
            log.warning("%s %s", kind, {k: v for k, v in payload.items() if k != "type"})

    async def _sources(self) -> None:
        for spec in self.settings.sources:
            if spec.kind != "websocket":
                continue
            url = spec.url
            if url == "embedded":
                feed = FeedServer(FeedConfig(rate=self.settings.feed.rate, symbols=list(self.settings.feed.symbols),
                                             seed=self.settings.feed.seed, port=self.settings.feed.port,
                                             source=spec.name, price_url=self.sims[0].url if self.sims else None))
                await feed.start()
                self.feeds.append(feed)
                url = feed.url
                log.info("demo signal feed for source %s at %s", spec.name, url)
            token = spec.token.resolve() if spec.token else None
            if token:
                register_secret(token)
            seq_key = f"source_seq:{spec.name}"
            # The embedded feed starts from seq 0 each run; resuming applies to real, persistent providers.
            last_seq = 0 if spec.url == "embedded" else int(self.store.get_json(seq_key, 0))
            fmt, mapping, name = spec.format, spec.mapping, spec.name

            async def on_signal(payload: Any, seq: int, name=name, fmt=fmt, mapping=mapping) -> None:
                result = await self.pipeline.submit_payload(payload, name, fmt, mapping, time.perf_counter())
                self.metrics.signal(name, _outcome(result.status))

            async def on_bad_frame(text: str, reason: str, name=name) -> None:
                self.pipeline.record_invalid(name, text, SignalError("INVALID_SIGNAL", reason))
                self.metrics.signal(name, "invalid")

            source = WebSocketSource(name, url or "", on_signal=on_signal, on_bad_frame=on_bad_frame, token=token,
                                     heartbeat_interval=spec.heartbeat_interval, last_seq=last_seq,
                                     save_seq=lambda seq, key=seq_key: self.store.put_json(key, seq),
                                     on_reconnect=lambda n=name: self.metrics.stream_reconnects.labels(
                                         stream=f"source:{n}").inc())
            self.sources.append(source)
            self._tasks.append(asyncio.create_task(source.run()))

    async def _api(self) -> None:
        from bot.api import start_api
        self.api_runner, self.api_url = await start_api(self)
        if self.settings.api.metrics_listen:
            host, port = host_port_of(self.settings.api.metrics_listen)
            self.metrics_runner, self.metrics_port = await serve_metrics(self.metrics, host, port)

    def _jobs(self) -> None:
        self.jobs = Jobs(self.metrics, log)
        interval = self.settings.execution.reconcile_interval
        for account in self.venues:
            self.jobs.add_interval(f"reconcile_{account}", lambda a=account: self.execution.tracker.reconcile(a),
                                   interval, jitter=interval / 10)
            self.jobs.add_interval(f"balances_{account}", lambda a=account: self.execution.refresh_balances(a), 5)

        async def daily_reset() -> None:
            self.execution.reset_daily()

        async def breaker_tick() -> None:
            self.gate.tick()

        async def expire_stale() -> None:
            await self.execution.expire_stale(self.settings.execution.max_order_age)

        async def retention() -> None:
            self.store.prune_signals(time.time() - self.settings.store.retention_days * 86400)

        if self.settings.execution.max_order_age:
            self.jobs.add_interval("stale_order_expiry", expire_stale, 10.0)
        self.jobs.add_daily("retention", retention, 3, 30)
        self.jobs.add_daily("daily_loss_reset", daily_reset, 0, 0)
        self.jobs.add_interval("position_marks", self._mark_positions, 5.0)
        self.jobs.add_interval("breaker_cooldowns", breaker_tick, 1.0)
        self.jobs.start()

    # -- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        started = time.perf_counter()
        state_dir = Path(self.settings.state_dir)
        if any(a.venue == "sim" and a.url is None for a in self.settings.accounts.values()):
            self._set_aside(state_dir / "tradewire.db")
        self.store = Store(state_dir / "tradewire.db", self.settings.store.synchronous)
        self._policy()
        self._strategies()
        await self._venues()
        symbols = {name: list(a.symbols) for name, a in self.settings.accounts.items()}
        self.market = MarketData()
        self.execution = Execution(
            self.store, self.venues, self.bus, symbols=symbols,
            submit_policy=SubmitPolicy(unknown_grace=self.settings.execution.unknown_grace,
                                       lost_after=self.settings.execution.lost_after),
            lost_after=self.settings.execution.lost_after, rules_for=self._rules_for,
            protection_mode=self.settings.execution.protection,
            on_venue_result=lambda account, ok: self.gate.record_venue_result(account, ok),
            on_reconnect=lambda account: self.metrics.stream_reconnects.labels(stream=f"venue:{account}").inc())
        self.gate = RiskGate(self.loaded_policy, self.market, self.execution, on_event=self._on_policy_event)
        saved = self.store.get_json("policy_state")
        if saved:
            self.gate.import_state(saved)
        self.gate.register(accounts=self.venues, sources=[s.name for s in self.settings.sources],
                           strategies=[r.name for r in self.routes])
        self._wire_events()
        for name, venue in self.venues.items():
            await self.market.prime(venue, symbols[name])
            self.market.start(venue, symbols[name])
        for route in self.routes:
            await route.runner.on_start()
        self.pipeline = SignalPipeline(self.store, self.gate, self.execution, self.market, self.routes, self.bus,
                                       metrics=self.metrics)
        await self.execution.start()
        # Saved reservations belong to orders that were open at the last save; reconciliation has just
        # settled them, and a reservation without a live order would hold exposure forever.
        for key in self.gate.reservations():
            if key not in self.execution.ledger.live:
                self.gate.release(key)
        resumed = await self.pipeline.resume_undecided()
        if resumed:
            log.info("re-ran %d signals that were received but undecided before the last stop", resumed)
        await self._api()
        await self._sources()
        self._jobs()
        self.watchdog = sdnotify.Watchdog(self.healthy, on_lag=self.metrics.event_loop_lag.set)
        self.watchdog.start()
        self.ready = True
        self.startup_seconds = time.perf_counter() - started
        sdnotify.ready()
        log.info("Tradewire ready in %.2fs: %d account(s), %d source(s), API at %s", self.startup_seconds,
                 len(self.venues), len(self.sources), self.api_url)

    def healthy(self) -> bool:
        return self.ready and all(self.execution.tracker.streams_up.get(a, False) for a in self.venues)

    def request_stop(self) -> None:
        self._stop.set()

    def reload_policy(self) -> str:
        """SIGHUP / POST /v1/policy/reload: the new file or, if invalid, the old one stays (PolicyError)."""
        sdnotify.reloading()
        try:
            loaded = self.gate.reload(self.settings.policy)
            log.info("policy reloaded: %s (hash %s)", self.settings.policy, loaded.hash[:12])
            return loaded.hash
        finally:
            sdnotify.ready()

    async def run(self, duration: float | None = None) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(os_signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(os_signal.SIGINT, self.request_stop)
        loop.add_signal_handler(os_signal.SIGHUP, self._sighup)
        try:
            await self.start()
            try:
                async with asyncio.timeout(duration):
                    await self._stop.wait()
            except asyncio.TimeoutError:
                pass
        finally:
            await self.stop()

    def _sighup(self) -> None:
        try:
            self.reload_policy()
        except PolicyError as exc:
            log.error("policy reload refused, the previous policy stays in force: %s", exc)

    async def stop(self) -> None:
        sdnotify.stopping()
        sdnotify.extend_timeout(30)
        log.info("stopping: no new signals; finishing in-flight orders")
        self.ready = False
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, stuck = await asyncio.wait(self._tasks, timeout=5)
            for task in stuck:     # never hang a shutdown on one task; say which one it was
                log.error("task %s did not stop within 5 s; leaving it", task.get_coro())
        if hasattr(self, "execution"):
            await self.execution.stop(cancel_open=self.settings.execution.cancel_on_shutdown)
        if hasattr(self, "jobs"):
            await self.jobs.shutdown()
        if hasattr(self, "watchdog"):
            await self.watchdog.stop()
        for route in self.routes:
            try:
                await route.runner.on_stop()
            except Exception as exc:
                log.warning("strategy %s on_stop: %s", route.name, exc)
        for runner in (self.api_runner, self.metrics_runner):
            if runner is not None:
                await runner.cleanup()
        if hasattr(self, "market"):
            await self.market.stop()
        for venue in self.venues.values():
            await venue.close()
        for feed in self.feeds:
            await feed.stop()
        for sim in self.sims:
            await sim.stop()
        if hasattr(self, "store"):
            self.store.close()
        log.info("stopped")


def _outcome(status: str) -> str:
    return {"ACCEPTED": "accepted", "REJECTED": "rejected", "INVALID": "invalid",
            "DUPLICATE": "duplicate"}.get(status, "error")
