import json
import re
from pathlib import Path

from bot.obs.metrics import Metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"


def _exposed_names() -> set[str]:
    """Every sample name the registry can expose, series or not yet."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    names = set()
    for family in Metrics().registry.collect():
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
    return names


def test_dashboard_is_importable_and_queries_existing_metrics():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["schemaVersion"] >= 36 and dashboard["uid"] and dashboard["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"

    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    exposed = _exposed_names()
    used = set()
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used.update(re.findall(r"\b((?:tradewire|process)_[a-z_]+)\b", target["expr"]))
    assert used <= exposed, used - exposed
    for needed in ("tradewire_signals_total", "tradewire_signal_to_submit_seconds_bucket", "tradewire_breaker_state",
                   "tradewire_trading_state", "tradewire_position_notional", "tradewire_unprotected_positions",
                   "tradewire_flattens_total", "tradewire_realized_pnl", "tradewire_unrealized_pnl",
                   "tradewire_webhook_deliveries_total", "tradewire_api_request_duration_seconds_bucket",
                   "tradewire_venue_request_duration_seconds_bucket", "tradewire_venue_errors_total"):  # fmt: skip
        assert needed in used, needed
