"""Prometheus metrics for SPEC §10, in one registry per `Metrics` instance (tests create several).

Conventions: `tradewire_` prefix, base units (seconds; money in the account's quote currency), counters end in
`_total`, latencies are `_seconds` histograms. Labels are bounded: names from the configuration (account,
source, breaker, job, stream), closed sets (outcome, status, kind, method) and route templates; never signal,
order or client ids, never symbols from untrusted input (positions only exist for symbols the policy allowed).

| metric | type | labels | meaning |
| --- | --- | --- | --- |
| `tradewire_build_info` | gauge | version | always 1 |
| `tradewire_signals_total` | counter | source, outcome | signals by outcome: accepted, rejected, invalid, duplicate, error |
| `tradewire_signal_to_submit_seconds` | histogram | source | signal received → order request on the wire |
| `tradewire_venue_request_duration_seconds` | histogram | account, method | venue call latency (create_order, cancel_order, ...) |
| `tradewire_venue_errors_total` | counter | account, kind | venue errors: rejected, retryable, unknown, rate_limited, fatal |
| `tradewire_orders_total` | counter | account, status | order transitions into each status (PENDING ... EXPIRED) |
| `tradewire_open_orders` | gauge | account | orders not yet in a final status |
| `tradewire_breaker_state` | gauge | name | 0 closed, 1 open, 2 half-open |
| `tradewire_trading_state` | gauge | account | 0 active, 1 reduce-only, 2 halted |
| `tradewire_position_notional` | gauge | account, symbol | signed position value (quote currency); series removed when flat |
| `tradewire_unprotected_positions` | gauge | account | positions whose protective legs are missing |
| `tradewire_flattens_total` | counter | account, reason | positions closed by Tradewire: leg_failure, halt |
| `tradewire_realized_pnl` | gauge | account | realized PnL (quote currency) |
| `tradewire_unrealized_pnl` | gauge | account | unrealized PnL at the last price (quote currency) |
| `tradewire_stream_reconnects_total` | counter | stream | reconnects of signal and venue streams |
| `tradewire_webhook_deliveries_total` | counter | outcome | delivered, failed (will retry), dead_lettered |
| `tradewire_api_requests_total` | counter | method, route, status | API requests; route is the template, e.g. `/v1/orders/{id}` |
| `tradewire_api_request_duration_seconds` | histogram | route | API request latency |
| `tradewire_job_runs_total` | counter | job, outcome | scheduled job runs: success, error, cancelled (at shutdown), skipped (previous run still going) |
| `tradewire_job_duration_seconds` | histogram | job | scheduled job duration |
| `tradewire_event_loop_lag_seconds` | gauge | | last measured event-loop lag (from the watchdog task) |
| `process_*` | | | the standard process collector (RSS, CPU, open fds) |
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

__all__ = [
    "BREAKER_STATES",
    "SIGNAL_OUTCOMES",
    "TRADING_STATES",
    "Metrics",
]

# `*_created` series double the series count and tell a Prometheus scraping the text format nothing it uses.
disable_created_metrics()

SIGNAL_OUTCOMES = ("accepted", "rejected", "invalid", "duplicate", "error")
BREAKER_STATES = {"closed": 0, "open": 1, "half_open": 2}
TRADING_STATES = {"active": 0, "reduce_only": 1, "halted": 2}

# The trading path is measured in tens of microseconds to milliseconds (SPEC §11: p50 ≤ 0.5 ms), venues and
# the API in milliseconds to seconds; one bucket set from 50 µs to 10 s serves all of them.
LATENCY_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
# Jobs (reconciliation, retention) take milliseconds to minutes.
JOB_BUCKETS = (0.001, 0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0)


class Metrics:
    """Every Tradewire metric, registered in `self.registry`; the attributes are prometheus_client objects."""

    content_type = CONTENT_TYPE_PLAIN_0_0_4

    def __init__(
        self,
        *,
        version: str = "",
        sources: Iterable[str] = (),
        accounts: Iterable[str] = (),
        process: bool = True,
    ) -> None:
        """`sources` and `accounts` pre-create their zero series, so rates and alerts work from the first scrape."""
        self.registry = r = CollectorRegistry(auto_describe=True)
        if process:
            ProcessCollector(registry=r)

        self.build_info = Gauge("tradewire_build_info", "Always 1; carries the version", ["version"], registry=r)
        self.build_info.labels(version=version).set(1)

        self.signals = Counter("tradewire_signals", "Signals by outcome", ["source", "outcome"], registry=r)
        self.signal_to_submit = Histogram(
            "tradewire_signal_to_submit_seconds",
            "Signal received to order request on the wire",
            ["source"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

        self.venue_request = Histogram(
            "tradewire_venue_request_duration_seconds",
            "Venue request latency",
            ["account", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.venue_errors = Counter("tradewire_venue_errors", "Venue errors by kind", ["account", "kind"], registry=r)

        self.orders = Counter("tradewire_orders", "Order transitions into each status", ["account", "status"], registry=r)
        self.open_orders = Gauge("tradewire_open_orders", "Orders not in a final status", ["account"], registry=r)

        self.breaker_state = Gauge("tradewire_breaker_state", "0 closed, 1 open, 2 half-open", ["name"], registry=r)
        self.trading_state = Gauge("tradewire_trading_state", "0 active, 1 reduce-only, 2 halted", ["account"], registry=r)

        self.position_notional = Gauge(
            "tradewire_position_notional", "Signed position value, quote currency", ["account", "symbol"], registry=r
        )
        self.unprotected_positions = Gauge(
            "tradewire_unprotected_positions", "Positions without their protective legs", ["account"], registry=r
        )
        self.flattens = Counter("tradewire_flattens", "Positions closed by Tradewire", ["account", "reason"], registry=r)
        self.realized_pnl = Gauge("tradewire_realized_pnl", "Realized PnL, quote currency", ["account"], registry=r)
        self.unrealized_pnl = Gauge("tradewire_unrealized_pnl", "Unrealized PnL, quote currency", ["account"], registry=r)

        self.stream_reconnects = Counter(
            "tradewire_stream_reconnects", "Stream reconnects (signal and venue streams)", ["stream"], registry=r
        )
        self.webhook_deliveries = Counter(
            "tradewire_webhook_deliveries", "Outbound webhook deliveries by outcome", ["outcome"], registry=r
        )

        self.api_requests = Counter(
            "tradewire_api_requests", "API requests", ["method", "route", "status"], registry=r
        )
        self.api_request_duration = Histogram(
            "tradewire_api_request_duration_seconds",
            "API request latency",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

        self.job_runs = Counter("tradewire_job_runs", "Scheduled job runs by outcome", ["job", "outcome"], registry=r)
        self.job_duration = Histogram(
            "tradewire_job_duration_seconds", "Scheduled job duration", ["job"], buckets=JOB_BUCKETS, registry=r
        )

        self.event_loop_lag = Gauge("tradewire_event_loop_lag_seconds", "Last measured event-loop lag", registry=r)

        for source in sources:
            for outcome in SIGNAL_OUTCOMES:
                self.signals.labels(source=source, outcome=outcome)
        for account in accounts:
            for gauge in (self.open_orders, self.trading_state, self.unprotected_positions,
                          self.realized_pnl, self.unrealized_pnl):  # fmt: skip
                gauge.labels(account=account)

    def signal(self, source: str, outcome: str) -> None:
        """Count one signal; `outcome` must be one of SIGNAL_OUTCOMES (keeps the label set closed)."""
        if outcome not in SIGNAL_OUTCOMES:
            raise ValueError(f"unknown signal outcome {outcome!r}")
        self.signals.labels(source=source, outcome=outcome).inc()

    def set_breaker(self, name: str, state: str) -> None:
        """Record a breaker's state: "closed", "open" or "half_open" (case-insensitive, '-' allowed)."""
        self.breaker_state.labels(name=name).set(BREAKER_STATES[_norm(state)])

    def set_trading_state(self, account: str, state: str) -> None:
        """Record an account's trading state: "active", "reduce_only" or "halted" (case-insensitive)."""
        self.trading_state.labels(account=account).set(TRADING_STATES[_norm(state)])

    def set_position(self, account: str, symbol: str, notional: Decimal | float) -> None:
        """Record a position's signed notional; a flat position drops its series, so symbols don't accumulate."""
        if notional == 0:
            try:
                self.position_notional.remove(account, symbol)
            except KeyError:
                pass
            return
        # Prometheus samples are float64: fine for watching exposure, never used for accounting.
        self.position_notional.labels(account=account, symbol=symbol).set(float(notional))

    def render(self) -> bytes:
        """The registry in the Prometheus text format (serve with `content_type`)."""
        return generate_latest(self.registry)


def _norm(state: str) -> str:
    return state.lower().replace("-", "_")


async def serve_metrics(metrics: Metrics, host: str, port: int) -> tuple[web.AppRunner, int]:
    """``GET /metrics`` alone on its own address (a scrape port apart from the API); returns the bound port."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), headers={"Content-Type": metrics.content_type})

    app = web.Application()
    app.router.add_get("/metrics", handler)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
