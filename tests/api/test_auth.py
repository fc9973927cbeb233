"""Authentication, scopes, rate limits, correlation ids, and the ``tradewire keys`` commands."""
from __future__ import annotations

import sqlite3

import pytest
import yaml

from bot.api.keys import KeyStore, hash_key
from bot.cli import main as cli_main


async def get(http, daemon, path, headers=None):
    async with http.get(daemon.api_url + path, headers=headers or {}) as response:
        return response.status, await response.json(), response.headers


async def test_missing_wrong_and_revoked_keys_401(http, daemon, keys):
    status, error, headers = await get(http, daemon, "/v1/positions")
    assert status == 401 and error["code"] == "UNAUTHENTICATED" and "Bearer" in headers["WWW-Authenticate"]
    assert error["correlation_id"] == headers["X-Correlation-ID"]
    wrong = keys["reader"][:-3] + "abc"
    for bad in ({"Authorization": f"Bearer {wrong}"}, {"X-API-Key": "tw_nope_nope"}, {"Authorization": "Bearer "},
                {"Authorization": f"Basic {keys['reader']}"}):
        status, error, _ = await get(http, daemon, "/v1/positions", bad)
        assert status == 401, bad
    status, _, _ = await get(http, daemon, "/v1/positions", {"X-API-Key": keys["reader"]})
    assert status == 200
    assert KeyStore(daemon.store.conn).revoke("reader")
    status, _, _ = await get(http, daemon, "/v1/positions", keys.headers("reader"))
    assert status == 401


async def test_scopes_403(http, daemon, keys):
    order = {"symbol": "BTC/USDT", "side": "BUY", "quantity": "0.01", "order_type": "LIMIT", "limit_price": "60000"}
    cases = [("reader", "POST", "/v1/orders", order), ("tradeonly", "GET", "/v1/orders", None),
             ("trader", "POST", "/v1/halt", {"flatten": False}), ("reader", "POST", "/v1/signals", {}),
             ("signaler", "GET", "/v1/signals", None), ("trader", "POST", "/v1/policy/reload", None),
             ("reader", "POST", "/v1/breakers/venue:main/reset", None)]
    for key, method, path, body in cases:
        async with http.request(method, daemon.api_url + path, json=body, headers=keys.headers(key)) as r:
            error = await r.json()
            assert r.status == 403 and error["code"] == "FORBIDDEN", (key, path, error)
    async with http.post(daemon.api_url + "/v1/orders", json=order, headers=keys.headers("tradeonly")) as r:
        assert r.status == 201


async def test_rate_limit_headers_and_429(http, daemon, keys):
    status, _, headers = await get(http, daemon, "/v1/balances", keys.headers("limited"))
    assert status == 200
    assert headers["RateLimit-Policy"] == '"default";q=3;w=60'
    assert headers["RateLimit"].startswith('"default";r=2;t=')
    assert headers["X-RateLimit-Limit"] == "3" and headers["X-RateLimit-Remaining"] == "2"
    assert 0 < int(headers["X-RateLimit-Reset"]) <= 60
    await get(http, daemon, "/v1/balances", keys.headers("limited"))
    status, _, headers = await get(http, daemon, "/v1/balances", keys.headers("limited"))
    assert status == 200 and headers["X-RateLimit-Remaining"] == "0"
    status, error, headers = await get(http, daemon, "/v1/balances", keys.headers("limited"))
    assert status == 429 and error["code"] == "RATE_LIMITED"
    assert 0 < int(headers["Retry-After"]) <= 60 and headers["RateLimit"].startswith('"default";r=0;')
    # limits are per key
    status, _, _ = await get(http, daemon, "/v1/balances", keys.headers("reader"))
    assert status == 200


async def test_correlation_id_echoed_or_generated(http, daemon, keys):
    _, _, headers = await get(http, daemon, "/healthz", {"X-Correlation-ID": "abc-123"})
    assert headers["X-Correlation-ID"] == "abc-123"
    _, _, headers = await get(http, daemon, "/healthz", {"X-Correlation-ID": "bad value with spaces"})
    assert headers["X-Correlation-ID"] and headers["X-Correlation-ID"] != "bad value with spaces"
    status, error, headers = await get(http, daemon, "/no/such/route")
    assert status == 404 and error["code"] == "NOT_FOUND" and headers["X-Correlation-ID"] == error["correlation_id"]
    async with http.put(daemon.api_url + "/v1/orders") as r:
        assert r.status == 405 and (await r.json())["code"] == "METHOD_NOT_ALLOWED" and "Allow" in r.headers


# -- tradewire keys ----------------------------------------------------------------------------------------

@pytest.fixture
def config(tmp_path):
    path = tmp_path / "tradewire.yaml"
    path.write_text(yaml.safe_dump({"state_dir": str(tmp_path / "state"), "sources": [], "strategies": []}))
    return str(path)


def test_keys_create_list_revoke(config, tmp_path, capsys):
    assert cli_main(["keys", "create", "-c", config, "--name", "bot1", "--scopes", "read,trade"]) == 0
    out, err = capsys.readouterr()
    secret = out.strip()
    assert out == secret + "\n" and secret.startswith("tw_") and "bot1" in err
    db = sqlite3.connect(tmp_path / "state" / "tradewire.db")
    row = db.execute("SELECT key_hash, scopes FROM api_keys WHERE name = 'bot1'").fetchone()
    assert row == (hash_key(secret), "read,trade")
    assert secret not in " ".join(str(v) for r in db.execute("SELECT * FROM api_keys") for v in r)

    assert cli_main(["keys", "list", "-c", config]) == 0
    out, _ = capsys.readouterr()
    assert "bot1" in out and "read,trade" in out and secret not in out

    assert cli_main(["keys", "create", "-c", config, "--name", "bot1", "--scopes", "read"]) == 2
    assert cli_main(["keys", "create", "-c", config, "--name", "bot2", "--scopes", "read,fly"]) == 2
    assert cli_main(["keys", "create", "-c", config, "--name", "bad name", "--scopes", "read"]) == 2
    assert cli_main(["keys", "create", "-c", str(tmp_path / "missing.yaml"), "--name", "x", "--scopes", "read"]) == 2
    capsys.readouterr()
    assert cli_main(["keys", "revoke", "-c", config, "bot1"]) == 0
    assert cli_main(["keys", "revoke", "-c", config, "bot1"]) == 2
    assert cli_main(["keys", "list", "-c", config]) == 0
    assert "revoked" in capsys.readouterr().out


async def test_demo_key_printed_and_reused(make_daemon, http, capsys):
    daemon = await make_daemon(api={"listen": "127.0.0.1:0", "demo_key": True})
    out = capsys.readouterr().out
    assert f"demo API key: {daemon.demo_key}" in out
    status, _, _ = await get(http, daemon, "/v1/breakers", {"Authorization": f"Bearer {daemon.demo_key}"})
    assert status == 200
    from bot.api.server import Api
    assert Api(daemon).ensure_demo_key() == daemon.demo_key         # reused while it authenticates
