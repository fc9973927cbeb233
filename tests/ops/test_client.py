"""The client commands (status, orders, positions, breakers, halt, resume) against a fake API: arguments,
key and URL discovery, output, exit codes. The same commands against the real daemon: test_daemon_api.py."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bot.cli import main
from bot.obs.client import histogram_quantile, parse_metrics

from .harness import free_port

METRICS = """\
# HELP tradewire_signals_total Signals by outcome
# TYPE tradewire_signals_total counter
tradewire_signals_total{outcome="accepted",source="demo"} 7.0
tradewire_signals_total{outcome="rejected",source="demo"} 2.0
tradewire_trading_state{account="main"} 0.0
tradewire_signal_to_submit_seconds_bucket{le="0.0005",source="demo"} 5.0
tradewire_signal_to_submit_seconds_bucket{le="0.001",source="demo"} 7.0
tradewire_signal_to_submit_seconds_bucket{le="+Inf",source="demo"} 7.0
tradewire_signal_to_submit_seconds_count{source="demo"} 7.0
tradewire_signal_to_submit_seconds_sum{source="demo"} 0.003
tradewire_event_loop_lag_seconds 0.0012
"""


class FakeApi:
    """routes: {(method, path_with_query): (status, body)}; records (method, path, headers, body)."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], tuple[int, Any]] = {}
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                api.requests.append((self.command, self.path, dict(self.headers),
                                     json.loads(raw) if raw else None))
                status, body = api.routes.get((self.command, self.path), (404, {
                    "code": "NOT_FOUND", "message": f"no route {self.path}", "details": {}, "correlation_id": "c1"}))
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api(monkeypatch):
    fake = FakeApi()
    monkeypatch.setenv("TRADEWIRE_API_KEY", "k-test-123")
    yield fake
    fake.close()


COMMANDS = ["status", "orders", "positions", "breakers", "halt", "resume"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "--url" in out and "--key-file" in out and "--json" in out and "-c" in out


def test_missing_key_is_a_usage_error(monkeypatch, capsys, api):
    monkeypatch.delenv("TRADEWIRE_API_KEY")
    assert main(["positions", "--url", api.url]) == 2
    assert "TRADEWIRE_API_KEY" in capsys.readouterr().err
    assert api.requests == []


def test_bad_config_and_bad_url_are_usage_errors(tmp_path, capsys, api):
    bad = tmp_path / "bad.yaml"
    bad.write_text("api: {listen: '127.0.0.1:1'}\nbogus_key: 1\n")
    assert main(["status", "-c", str(bad)]) == 2
    assert "bogus_key" in capsys.readouterr().err
    assert main(["status", "-c", str(tmp_path / "missing.yaml")]) == 2
    assert main(["status", "--url", "localhost:8080"]) == 2
    assert main(["orders", "--key-file", str(tmp_path / "nokey"), "--url", api.url]) == 2


def test_config_api_listen_and_key_file(tmp_path, monkeypatch, capsys, api):
    monkeypatch.delenv("TRADEWIRE_API_KEY")
    port = api.url.rsplit(":", 1)[1]
    config = tmp_path / "tradewire.yaml"
    config.write_text(f"api: {{listen: '127.0.0.1:{port}'}}\n")
    key_file = tmp_path / "key"
    key_file.write_text("k-from-file\n")
    api.routes[("GET", "/v1/positions")] = (200, {"positions": []})
    assert main(["positions", "-c", str(config), "--key-file", str(key_file)]) == 0
    method, path, headers, _ = api.requests[-1]
    assert headers["Authorization"] == "Bearer k-from-file"
    assert {k.lower(): v for k, v in headers.items()}.get("x-correlation-id")


def test_unreachable_daemon_is_a_runtime_failure(capsys, monkeypatch):
    monkeypatch.setenv("TRADEWIRE_API_KEY", "k")
    assert main(["breakers", "--url", f"http://127.0.0.1:{free_port()}", "--timeout", "2"]) == 1
    assert "cannot reach the daemon" in capsys.readouterr().err


def test_api_error_prints_code_and_message(capsys, api):
    api.routes[("POST", "/v1/halt")] = (403, {"code": "FORBIDDEN", "message": "scope admin required",
                                             "details": {}, "correlation_id": "abc"})
    assert main(["halt", "--url", api.url]) == 1
    err = capsys.readouterr().err
    assert "FORBIDDEN: scope admin required" in err and "403" in err
    api.routes[("GET", "/v1/breakers")] = (500, "boom")
    assert main(["breakers", "--url", api.url]) == 1
    assert "HTTP 500" in capsys.readouterr().err


def test_halt_flatten_and_resume_bodies(capsys, api):
    api.routes[("POST", "/v1/halt")] = (200, {"trading_state": "HALTED", "flattening": 2})
    api.routes[("POST", "/v1/resume")] = (200, {"trading_state": "ACTIVE"})
    assert main(["halt", "--flatten", "--url", api.url]) == 0
    assert api.requests[-1][3] == {"flatten": True}
    assert "HALTED" in capsys.readouterr().out
    assert main(["halt", "--url", api.url, "--json"]) == 0
    assert api.requests[-1][3] == {"flatten": False}
    assert json.loads(capsys.readouterr().out) == {"trading_state": "HALTED", "flattening": 2}
    assert main(["resume", "--url", api.url]) == 0
    assert api.requests[-1][:2] == ("POST", "/v1/resume")
    assert "resumed" in capsys.readouterr().out


def test_orders_table_follows_pages(capsys, api):
    order = {"id": "o1", "symbol": "BTC/USDT", "side": "BUY", "order_type": "LIMIT", "quantity": "0.0015",
             "status": "OPEN", "filled_quantity": "0", "client_order_id": None, "fills": [], "legs": []}
    api.routes[("GET", "/v1/orders?status=open")] = (200, {"orders": [order], "next": "p2"})
    api.routes[("GET", "/v1/orders?status=open&cursor=p2")] = (200, {"orders": [dict(order, id="o2")],
                                                                      "next": None})
    assert main(["orders", "--status", "open", "--url", api.url]) == 0
    out = capsys.readouterr().out
    assert "o1" in out and "o2" in out and "BTC/USDT" in out and "0.0015" in out
    assert main(["orders", "--status", "open", "--url", api.url, "--json"]) == 0
    assert [o["id"] for o in json.loads(capsys.readouterr().out)["orders"]] == ["o1", "o2"]


def test_positions_and_breakers_tables(capsys, api):
    api.routes[("GET", "/v1/positions")] = (200, {"positions": [
        {"account": "main", "symbol": "BTC/USDT", "quantity": "0.003", "average_entry": "67000",
         "realized_pnl": "1.5", "unrealized_pnl": "-0.2"},
        {"account": "main", "symbol": "ETH/USDT", "quantity": "0", "average_entry": "0", "realized_pnl": "0"}]})
    api.routes[("GET", "/v1/breakers")] = (200, {"breakers": [
        {"name": "source:demo", "state": "CLOSED"}, {"name": "venue:main", "state": "OPEN"}]})
    assert main(["positions", "--url", api.url]) == 0
    out = capsys.readouterr().out
    assert "BTC/USDT" in out and "0.003" in out and "ETH/USDT" not in out
    assert main(["positions", "--all", "--url", api.url]) == 0
    assert "ETH/USDT" in capsys.readouterr().out
    assert main(["breakers", "--url", api.url]) == 0
    out = capsys.readouterr().out
    assert "venue:main" in out and "OPEN" in out


def test_status_composed_when_no_status_route(capsys, api):
    api.routes[("GET", "/readyz")] = (200, {"ready": True})
    api.routes[("GET", "/v1/positions")] = (200, {"positions": [
        {"account": "main", "symbol": "BTC/USDT", "quantity": "0.003", "average_entry": "67000"}]})
    api.routes[("GET", "/v1/breakers")] = (200, {"breakers": [{"name": "source:demo", "state": "CLOSED"}]})
    api.routes[("GET", "/v1/orders?status=open")] = (200, {"orders": [
        {"id": "o9", "symbol": "BTC/USDT", "side": "SELL", "status": "OPEN", "quantity": "0.003"}], "next": None})
    api.routes[("GET", "/metrics")] = (200, METRICS)
    assert main(["status", "--url", api.url, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["ready"] is True
    assert status["trading"] == {"main": "ACTIVE"}
    assert status["sources"]["demo"]["accepted"] == 7
    assert status["latency"]["signal_to_submit"][0]["count"] == 7
    assert main(["status", "--url", api.url]) == 0
    out = capsys.readouterr().out
    for text in ("ACTIVE", "demo", "source:demo", "o9", "0.003", "signal_to_submit"):
        assert text in out, text
    # /readyz and /metrics are unauthenticated; the /v1 routes carry the key.
    auth = {path: headers.get("Authorization") for _, path, headers, _ in api.requests}
    assert auth["/v1/positions"] == "Bearer k-test-123"


def test_status_prefers_the_status_route(capsys, api):
    api.routes[("GET", "/v1/status")] = (200, {"ready": True, "trading": {"main": "HALTED"}, "positions": []})
    assert main(["status", "--url", api.url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["trading"] == {"main": "HALTED"}
    assert [p for _, p, _, _ in api.requests] == ["/v1/status"]


def test_metrics_parsing_and_quantiles():
    samples = parse_metrics(METRICS + 'x_total{a="q\\"uote,d"} 3\n')
    assert samples["tradewire_signals_total"][0] == ({"outcome": "accepted", "source": "demo"}, 7.0)
    assert samples["x_total"][0][0] == {"a": 'q"uote,d'}
    assert histogram_quantile(0.5, [(0.0005, 5), (0.001, 7), (float("inf"), 7)]) == pytest.approx(0.00035)
    assert histogram_quantile(0.99, [(0.0005, 0), (float("inf"), 0)]) is None
