"""CcxtVenue against the simulator: ccxt's exceptions arrive as Tradewire's closed set of outcomes."""
from __future__ import annotations

from decimal import Decimal

import aiohttp
import ccxt
import pytest

from bot.model import OrderStatus, OrderType, Side
from bot.sim import SimConfig, SimServer
from bot.venues.ccxt_venue import CcxtVenue
from bot.venues.errors import Fatal, RateLimited, Rejected, Retryable, Unknown, classify


@pytest.fixture
async def sim():
    async with SimServer(SimConfig(price_model="static")) as server:
        yield server


@pytest.fixture
async def venue(sim):
    v = CcxtVenue("main", "binance", url=sim.url, api_key="sim-key", secret="sim-secret", timeout_ms=800)
    await v.connect()
    yield v
    await v.close()


async def fault(sim, **rule):
    async with aiohttp.ClientSession() as session:
        await session.post(f"{sim.url}/_sim/faults", json={"rules": [{"match": "POST /api/v3/order", **rule}]})


async def market_buy(venue, cid="c-1", quantity="0.001"):
    return await venue.create_order(client_id=cid, symbol="BTC/USDT", side=Side.BUY, order_type=OrderType.MARKET,
                                    quantity=Decimal(quantity))


@pytest.mark.parametrize("exc, submit, outcome, code", [
    (ccxt.InsufficientFunds("x"), True, Rejected, "INSUFFICIENT_BALANCE"),
    (ccxt.InvalidOrder("x"), True, Rejected, "INVALID_ORDER"),
    (ccxt.OrderNotFound("x"), False, Rejected, "ORDER_NOT_FOUND"),
    (ccxt.BadRequest("x"), True, Rejected, "INVALID_REQUEST"),
    (ccxt.DDoSProtection("x"), True, RateLimited, "RATE_LIMITED"),
    (ccxt.RateLimitExceeded("x"), True, RateLimited, "RATE_LIMITED"),
    (ccxt.InvalidNonce("x"), True, Retryable, "INVALID_NONCE"),
    (ccxt.AuthenticationError("x"), True, Fatal, "AUTHENTICATION"),
    (ccxt.RequestTimeout("x"), True, Unknown, "UNKNOWN"),
    (ccxt.ExchangeNotAvailable("x"), True, Unknown, "UNKNOWN"),
    (ccxt.OperationFailed("x"), True, Unknown, "UNKNOWN"),
    (ccxt.RequestTimeout("x"), False, Retryable, "NETWORK"),
])
def test_classification(exc, submit, outcome, code):
    error = classify(exc, submit=submit)
    assert type(error) is outcome and error.code == code


async def test_orders_round_trip(venue):
    placed = await market_buy(venue)
    assert placed.status is OrderStatus.FILLED and placed.client_id == "c-1" and placed.trades
    resting = await venue.create_order(client_id="c-2", symbol="BTC/USDT", side=Side.BUY,
                                       order_type=OrderType.LIMIT, quantity=Decimal("0.001"), price=Decimal("60000"))
    assert resting.status is OrderStatus.OPEN
    assert (await venue.fetch_order("c-2", "BTC/USDT")).venue_order_id == resting.venue_order_id
    assert [o.client_id for o in await venue.fetch_open_orders("BTC/USDT")] == ["c-2"]
    canceled = await venue.cancel_order("c-2", "BTC/USDT")
    assert canceled.status is OrderStatus.CANCELED and canceled.client_id == "c-2"
    assert await venue.cancel_order("c-2", "BTC/USDT") is None        # already final
    assert await venue.fetch_order("never-sent", "BTC/USDT") is None  # definite "not found"
    assert (await venue.fetch_balance())["BTC"] > Decimal("1")


async def test_insufficient_balance_is_rejected(venue):
    with pytest.raises(Rejected) as err:
        await market_buy(venue, quantity="1.6")
    assert err.value.code == "INSUFFICIENT_BALANCE"


async def test_http_503_on_submit_is_unknown(sim, venue):
    await fault(sim, fault="http_503", count=1)
    with pytest.raises(Unknown):
        await market_buy(venue)


async def test_http_429_is_rate_limited_with_retry_after(sim, venue):
    await fault(sim, fault="http_429", count=1)
    with pytest.raises(RateLimited) as err:
        await market_buy(venue)
    assert err.value.retry_after >= 1


async def test_timeout_after_accept_is_unknown_and_the_order_exists(sim, venue):
    await fault(sim, fault="timeout_after_accept", count=1)
    with pytest.raises(Unknown):
        await market_buy(venue, cid="t-1")
    assert (await venue.fetch_order("t-1", "BTC/USDT")).status is OrderStatus.FILLED


async def test_bad_credentials_are_fatal(sim):
    v = CcxtVenue("main", "binance", url=sim.url, api_key="sim-key", secret="wrong")
    await v.connect()
    try:
        with pytest.raises(Fatal):
            await v.fetch_balance()
    finally:
        await v.close()


async def test_capabilities_from_the_venue(venue):
    caps = venue.capabilities
    assert caps.oco and not caps.bracket_orders
    assert {"MARKET", "LIMIT", "LIMIT_MAKER", "STOP_LIMIT"} <= set(caps.order_types)
