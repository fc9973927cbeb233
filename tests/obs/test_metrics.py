import re
from decimal import Decimal

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.obs.metrics import Metrics

# SPEC §10 metrics and their label names (the dashboard and docs/deploy.md rely on these).
EXPECTED = {
    "tradewire_signals_total": {"source", "outcome"},
    "tradewire_signal_to_submit_seconds_bucket": {"source", "le"},
    "tradewire_venue_request_duration_seconds_bucket": {"account", "method", "le"},
    "tradewire_venue_errors_total": {"account", "kind"},
    "tradewire_orders_total": {"account", "status"},
    "tradewire_open_orders": {"account"},
    "tradewire_breaker_state": {"name"},
    "tradewire_trading_state": {"account"},
    "tradewire_position_notional": {"account", "symbol"},
    "tradewire_unprotected_positions": {"account"},
    "tradewire_flattens_total": {"account", "reason"},
    "tradewire_realized_pnl": {"account"},
    "tradewire_unrealized_pnl": {"account"},
    "tradewire_stream_reconnects_total": {"stream"},
    "tradewire_webhook_deliveries_total": {"outcome"},
    "tradewire_api_requests_total": {"method", "route", "status"},
    "tradewire_api_request_duration_seconds_bucket": {"route", "le"},
    "tradewire_job_runs_total": {"job", "outcome"},
    "tradewire_job_duration_seconds_bucket": {"job", "le"},
    "tradewire_event_loop_lag_seconds": set(),
    "tradewire_build_info": {"version"},
}


def _exercise(m: Metrics) -> None:
    m.signal("demo", "accepted")
    m.signal_to_submit.labels(source="demo").observe(0.0004)
    m.venue_request.labels(account="main", method="create_order").observe(0.003)
    m.venue_errors.labels(account="main", kind="retryable").inc()
    m.orders.labels(account="main", status="FILLED").inc()
    m.open_orders.labels(account="main").set(2)
    m.set_breaker("venue:main", "HALF_OPEN")
    m.set_trading_state("main", "reduce-only")
    m.set_position("main", "BTC/USDT", Decimal("-150.25"))
    m.unprotected_positions.labels(account="main").set(0)
    m.flattens.labels(account="main", reason="leg_failure").inc()
    m.realized_pnl.labels(account="main").set(12.5)
    m.unrealized_pnl.labels(account="main").set(-3)
    m.stream_reconnects.labels(stream="signals:demo").inc()
    m.webhook_deliveries.labels(outcome="delivered").inc()
    m.api_requests.labels(method="POST", route="/v1/orders", status="201").inc()
    m.api_request_duration.labels(route="/v1/orders").observe(0.0012)
    m.job_runs.labels(job="reconcile", outcome="success").inc()
    m.job_duration.labels(job="reconcile").observe(0.2)
    m.event_loop_lag.set(0.001)


def test_render_has_every_metric_with_prefix_and_labels():
    m = Metrics(version="0.1.0")
    _exercise(m)
    samples = {}
    for family in text_string_to_metric_families(m.render().decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, set()).update(sample.labels)
    for name, labels in EXPECTED.items():
        assert name in samples, name
        assert samples[name] == labels, name
    assert not any(name.endswith("_created") for name in samples)
    assert "process_resident_memory_bytes" in samples
    assert m.content_type.startswith("text/plain")


def test_values_and_value_mappings():
    m = Metrics()
    _exercise(m)
    text = m.render().decode()
    assert 'tradewire_breaker_state{name="venue:main"} 2.0' in text
    assert 'tradewire_trading_state{account="main"} 1.0' in text
    assert 'tradewire_position_notional{account="main",symbol="BTC/USDT"} -150.25' in text
    m.set_position("main", "BTC/USDT", 0)  # flat: the series goes away
    m.set_position("main", "ETH/USDT", Decimal(0))
    assert "tradewire_position_notional{" not in m.render().decode()
    with pytest.raises(ValueError):
        m.signal("demo", "maybe")
    with pytest.raises(KeyError):
        m.set_breaker("x", "ajar")


def test_instances_are_independent_and_preinitialised():
    a, b = Metrics(sources=["demo"], accounts=["main"], process=False), Metrics(process=False)
    a.signal("demo", "rejected")
    text_a, text_b = a.render().decode(), b.render().decode()
    assert 'tradewire_signals_total{outcome="accepted",source="demo"} 0.0' in text_a
    assert 'tradewire_signals_total{outcome="rejected",source="demo"} 1.0' in text_a
    assert 'tradewire_trading_state{account="main"} 0.0' in text_a
    assert not re.search(r"^tradewire_signals_total\{", text_b, re.M)
