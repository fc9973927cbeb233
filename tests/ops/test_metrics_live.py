"""/metrics of a running demo daemon (SPEC §10): every metric family is exposed, and the daemon feeds them."""
from __future__ import annotations

import re

import pytest

from .harness import http, metric_samples, sample, wait_for

pytestmark = pytest.mark.slow

FAMILIES = {
    "tradewire_build_info": "gauge",
    "tradewire_signals_total": "counter",
    "tradewire_signal_to_submit_seconds": "histogram",
    "tradewire_venue_request_duration_seconds": "histogram",
    "tradewire_venue_errors_total": "counter",
    "tradewire_orders_total": "counter",
    "tradewire_open_orders": "gauge",
    "tradewire_breaker_state": "gauge",
    "tradewire_trading_state": "gauge",
    "tradewire_position_notional": "gauge",
    "tradewire_unprotected_positions": "gauge",
    "tradewire_flattens_total": "counter",
    "tradewire_realized_pnl": "gauge",
    "tradewire_unrealized_pnl": "gauge",
    "tradewire_stream_reconnects_total": "counter",
    "tradewire_webhook_deliveries_total": "counter",
    "tradewire_api_requests_total": "counter",
    "tradewire_api_request_duration_seconds": "histogram",
    "tradewire_job_runs_total": "counter",
    "tradewire_job_duration_seconds": "histogram",
    "tradewire_event_loop_lag_seconds": "gauge",
    "process_resident_memory_bytes": "gauge",
}
ORDER_STATUSES = {"PENDING", "OPEN", "PARTIALLY_FILLED", "FILLED", "CANCELED", "REJECTED", "EXPIRED"}


def scrape(daemon) -> tuple[str, dict]:
    status, text, headers = http("GET", daemon.url + "/metrics")
    assert status == 200
    assert headers.get("Content-Type", "").startswith("text/plain")
    return text, metric_samples(text)


@pytest.fixture(scope="module")
def traded(demo_daemon):
    """The demo daemon once signals were accepted and entries filled; returns (text, samples)."""
    def filled():
        text, samples = scrape(demo_daemon)
        ok = (sample(samples, "tradewire_signals_total", source="demo", outcome="accepted") >= 2
              and sample(samples, "tradewire_orders_total", status="FILLED") >= 2)
        return (text, samples) if ok else None
    return wait_for(filled, 20, 0.25, "accepted signals and filled orders in /metrics")


def test_every_spec_family_is_exposed(traded):
    text, _ = traded
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    missing = {f for f in FAMILIES if f.removesuffix("_total") not in types and f not in types}
    assert not missing, f"metric families missing from /metrics: {sorted(missing)}"
    for family, kind in FAMILIES.items():
        assert types.get(family.removesuffix("_total"), types.get(family)) == kind, family


def test_values_the_daemon_feeds(traded, demo_daemon):
    text, samples = traded
    assert sample(samples, "tradewire_build_info") == 1
    assert sample(samples, "tradewire_signals_total", source="demo") > 0
    assert sample(samples, "tradewire_signals_total", source="demo", outcome="accepted") > 0
    statuses = {lbl["status"] for lbl, v in samples["tradewire_orders_total"] if v > 0}
    assert "FILLED" in statuses and statuses <= ORDER_STATUSES, statuses
    assert all(lbl["account"] == "main" for lbl, _ in samples["tradewire_orders_total"])
    assert sample(samples, "tradewire_trading_state", account="main") == 0
    # Positions come and go (the demo feed opens and closes them); one shows up within a few scrapes.
    wait_for(lambda: scrape(demo_daemon)[1].get("tradewire_position_notional"), 10, 0.1,
             "a tradewire_position_notional series while positions are open")
    assert sample(samples, "tradewire_unprotected_positions", account="main") == 0
    assert sample(samples, "tradewire_job_runs_total", job="breaker_cooldowns", outcome="success") > 0
    assert 0 <= sample(samples, "tradewire_event_loop_lag_seconds") < 1
    assert 10e6 < sample(samples, "process_resident_memory_bytes") < 400e6
    # Counters never go down between scrapes.
    _, later = scrape(demo_daemon)
    for name in ("tradewire_signals_total", "tradewire_orders_total"):
        assert sample(later, name) >= sample(samples, name)


def test_labels_stay_bounded(traded):
    """No signal, order or client ids in label values (SPEC §10: bounded labels only)."""
    text, samples = traded
    for name, series in samples.items():
        for labels, _ in series:
            for value in labels.values():
                assert not re.search(r"demo-[0-9a-f]*-?\d{6}|[0-9a-f]{10}", value), (name, labels)


def test_every_metric_is_fed(traded, demo_daemon):
    """Metrics registered but never updated by the daemon are wiring bugs; this lists each one."""
    http("GET", demo_daemon.url + "/readyz")   # at least one API request to count
    _, samples = scrape(demo_daemon)
    problems = []
    if sample(samples, "tradewire_signal_to_submit_seconds_count", source="demo") == 0:
        problems.append("tradewire_signal_to_submit_seconds{source=demo} has no observations although signals "
                        "were accepted and orders sent (SignalPipeline keeps `latencies` but never observes "
                        "metrics.signal_to_submit)")
    if sample(samples, "tradewire_orders_total", status="PENDING") == 0:
        problems.append("tradewire_orders_total{status=PENDING} stays 0: an order's creation (PENDING, persisted "
                        "before sending) is not a ledger on_change transition, so daemon._wire_events never "
                        "counts it")
    if sample(samples, "tradewire_venue_request_duration_seconds_count") == 0:
        problems.append("tradewire_venue_request_duration_seconds has no observations although orders were "
                        "placed (CcxtVenue calls are not timed into metrics.venue_request)")
    # The gauge follows the daemon's own open orders (signals keep arriving: compare until they agree).
    key = demo_daemon.demo_key(timeout=5)

    def open_orders_agree() -> bool:
        listed = demo_daemon.get("/v1/orders?status=open&limit=500", key=key)[1]["orders"]
        return sample(scrape(demo_daemon)[1], "tradewire_open_orders", account="main") == len(listed)

    try:
        wait_for(open_orders_agree, 10, 0.1, "open-orders gauge equal to the open orders")
    except AssertionError:
        problems.append("tradewire_open_orders{account=main} does not follow the daemon's open orders")
    if not samples.get("tradewire_api_requests_total"):
        problems.append("tradewire_api_requests_total has no series after API requests (the API does not "
                        "count requests into metrics.api_requests / api_request_duration)")
    if not any(v for _, v in samples.get("tradewire_realized_pnl", [])) and \
            not any(v for _, v in samples.get("tradewire_unrealized_pnl", [])):
        problems.append("tradewire_realized_pnl / tradewire_unrealized_pnl stay 0 with open positions and "
                        "realized trades (nothing sets them)")
    assert not problems, "metrics registered but not fed by the daemon: " + "; ".join(problems)
