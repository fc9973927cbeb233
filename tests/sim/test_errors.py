"""Every Binance error the simulator produces surfaces as the ccxt exception a real Binance would give."""
from __future__ import annotations

import time

import ccxt.pro as ccxtpro
import pytest

from bot.sim import SimConfig

from .conftest import make_client


async def test_insufficient_balance(ex):
    with pytest.raises(ccxtpro.InsufficientFunds):
        await ex.create_order("BTC/USDT", "limit", "buy", 10, 60000)
    with pytest.raises(ccxtpro.InsufficientFunds):
        await ex.create_order("ETH/USDT", "market", "sell", 11)


async def test_filter_failures(ex):
    with pytest.raises(ccxtpro.InvalidOrder, match="LOT_SIZE"):
        await ex.create_order("BTC/USDT", "limit", "sell", 10000, 70000)
    with pytest.raises(ccxtpro.InvalidOrder, match="PRICE_FILTER"):
        await ex.create_order("BTC/USDT", "limit", "sell", 0.001, 2000000)
    # NOTIONAL maps to BadRequest (InvalidOrder's sibling), not InvalidOrder
    with pytest.raises(ccxtpro.BadRequest, match="NOTIONAL"):
        await ex.create_order("BTC/USDT", "limit", "buy", 0.00001, 60000)


async def test_unknown_orders(ex):
    with pytest.raises(ccxtpro.OrderNotFound):
        await ex.cancel_order("987654", "BTC/USDT")
    with pytest.raises(ccxtpro.OrderNotFound):
        await ex.fetch_order("987654", "BTC/USDT")
    with pytest.raises(ccxtpro.OrderNotFound):
        await ex.fetch_order(None, "BTC/USDT", {"clientOrderId": "never-sent"})
    filled = await ex.create_order("BTC/USDT", "market", "buy", 0.001)
    with pytest.raises(ccxtpro.OrderNotFound):   # only open orders can be canceled
        await ex.cancel_order(filled["id"], "BTC/USDT")


async def test_bad_symbol_on_the_wire(ex):
    with pytest.raises(ccxtpro.BadSymbol):
        await ex.public_get_depth({"symbol": "NOPEUSDT"})


async def test_stale_timestamp_is_invalid_nonce(ex):
    ex.options["timeDifference"] = 100_000   # ccxt subtracts it: the request looks 100 s old
    with pytest.raises(ccxtpro.InvalidNonce):
        await ex.fetch_balance()
    ex.options["timeDifference"] = 0
    await ex.fetch_balance()


async def test_bad_credentials(sim):
    for extra in ({"secret": "wrong"}, {"apiKey": "other-key"}):
        client = make_client(ccxtpro.binance, sim.url, **extra)
        try:
            await client.load_markets()
            with pytest.raises(ccxtpro.AuthenticationError):
                await client.fetch_balance()
        finally:
            await client.close()


async def test_missing_mandatory_parameter(ex):
    with pytest.raises(ccxtpro.BadRequest):
        await ex.private_post_order({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01",
                                     "price": "60000"})   # no timeInForce


class TestOrderRateLimit:
    @pytest.fixture
    def sim_config(self):
        return SimConfig(price_model="static", order_rate_limit=5)

    async def test_429_with_retry_after(self, ex):
        for _ in range(5):
            await ex.create_order("BTC/USDT", "limit", "buy", 0.001, 60000)
        assert ex.last_response_headers["X-MBX-ORDER-COUNT-10S"] == "5"
        with pytest.raises(ccxtpro.DDoSProtection, match="-1015"):
            await ex.create_order("BTC/USDT", "limit", "buy", 0.001, 60000)
        assert int(ex.last_response_headers["Retry-After"]) >= 1


async def test_fault_http_503_and_500(ex, control):
    await control.faults({"match": "POST /api/v3/order", "fault": "http_503", "count": 1},
                         {"match": "GET /api/v3/account", "fault": "http_500", "count": 1})
    with pytest.raises(ccxtpro.ExchangeNotAvailable):
        await ex.create_order("BTC/USDT", "market", "buy", 0.001)
    with pytest.raises(ccxtpro.ExchangeNotAvailable):
        await ex.fetch_balance()
    assert (await control.state())["orders"] == []       # nothing was booked
    await ex.create_order("BTC/USDT", "market", "buy", 0.001)   # rules are spent


async def test_fault_http_429(ex, control):
    await control.faults({"match": "GET /api/v3/ticker/24hr", "fault": "http_429", "count": 1})
    with pytest.raises(ccxtpro.DDoSProtection):
        await ex.fetch_ticker("BTC/USDT")


async def test_fault_reject_only_for_order_type(ex, control):
    await control.faults({"match": "POST /api/v3/order", "fault": "reject", "order_type": "STOP_LOSS_LIMIT"})
    await ex.create_order("BTC/USDT", "limit", "buy", 0.001, 60000)
    with pytest.raises(ccxtpro.InvalidOrder, match="Stop loss limit orders are not supported"):
        await ex.create_order("BTC/USDT", "limit", "sell", 0.01, 64900, {"stopLossPrice": 65000})


async def test_fault_timeout_after_accept_books_the_order(sim, control):
    client = make_client(ccxtpro.binance, sim.url, timeout=1000)
    try:
        await client.load_markets()
        await control.faults({"match": "POST /api/v3/order", "fault": "timeout_after_accept", "count": 1})
        with pytest.raises(ccxtpro.RequestTimeout):
            await client.create_order("BTC/USDT", "limit", "buy", 0.001, 60000, {"clientOrderId": "lost-1"})
        orders = (await control.state())["orders"]
        assert [(o["clientOrderId"], o["status"]) for o in orders] == [("lost-1", "NEW")]
        found = await client.fetch_order(None, "BTC/USDT", {"clientOrderId": "lost-1"})
        assert found["status"] == "open"
    finally:
        await client.close()


async def test_fault_timeout_before_accept_books_nothing(sim, control):
    client = make_client(ccxtpro.binance, sim.url, timeout=500)
    try:
        await client.load_markets()
        await control.faults({"match": "POST /api/v3/order", "fault": "timeout_before_accept", "count": 1})
        with pytest.raises(ccxtpro.RequestTimeout):
            await client.create_order("BTC/USDT", "limit", "buy", 0.001, 60000, {"clientOrderId": "gone-1"})
        assert (await control.state())["orders"] == []
        with pytest.raises(ccxtpro.OrderNotFound):
            await client.fetch_order(None, "BTC/USDT", {"clientOrderId": "gone-1"})
    finally:
        await client.close()


async def test_fault_delay_and_rate(ex, control):
    await control.faults({"match": "GET /api/v3/time", "fault": "delay", "delay_ms": 200})
    started = time.monotonic()
    await ex.fetch_time()
    assert time.monotonic() - started >= 0.2
    await control.faults({"match": "GET /api/v3/ticker/24hr", "fault": "http_503", "rate": 0.5})
    failures = 0
    for _ in range(40):
        try:
            await ex.fetch_ticker("BTC/USDT")
        except ccxtpro.ExchangeNotAvailable:
            failures += 1
    assert 8 <= failures <= 32
    await control.call("DELETE", "/_sim/faults")
    await ex.fetch_ticker("BTC/USDT")
