"""Websockets through ccxt.pro: the user data stream (ws-api) and the public market streams."""
from __future__ import annotations

import asyncio

import ccxt.pro as ccxtpro
import pytest

from bot.sim import SimConfig

from .conftest import make_client


async def until(predicate, timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def subscribers(sim) -> int:
    return sum(len(conn.subscriptions) for conn in sim.streams.user_conns)


async def collect(watch, done, timeout: float = 3.0) -> list:
    """Call ``watch()`` repeatedly, accumulating updates until ``done(updates)``."""
    updates: list = []
    async with asyncio.timeout(timeout):
        while not done(updates):
            updates.extend(await watch())
    return updates


class TestPartialFills:
    @pytest.fixture
    def sim_config(self):
        # a thin book: three levels of ~1000 USDT each side
        return SimConfig(price_model="static", book_levels=3, level_notional=1000)

    async def test_market_order_exhausts_book_and_expires(self, sim, ex):
        watcher = asyncio.ensure_future(collect(lambda: ex.watch_orders("BTC/USDT"),
                                                lambda u: any(o["status"] == "expired" for o in u)))
        trades = asyncio.ensure_future(collect(lambda: ex.watch_my_trades("BTC/USDT"), lambda u: len(u) >= 3))
        await until(lambda: subscribers(sim) == 1)
        order = await ex.create_order("BTC/USDT", "market", "buy", 0.1)
        assert order["status"] == "expired" and 0 < order["filled"] < 0.1
        assert order["info"]["expiryReason"] == "INSUFFICIENT_LIQUIDITY"
        updates = await watcher
        assert [u["status"] for u in updates][-1] == "expired"
        assert updates[-1]["filled"] == order["filled"]
        fills = await trades
        assert len(fills) == 3 and all(f["order"] == order["id"] for f in fills)
        assert sum(f["amount"] for f in fills) == pytest.approx(order["filled"])
        assert len({f["price"] for f in fills}) == 3  # slippage through three levels

    async def test_limit_partially_fills_then_rests_then_completes(self, sim, ex, control):
        watcher = asyncio.ensure_future(collect(lambda: ex.watch_orders("ETH/USDT"),
                                                lambda u: any(o["status"] == "closed" for o in u)))
        await until(lambda: subscribers(sim) == 1)
        order = await ex.create_order("ETH/USDT", "limit", "buy", 1, 3500.70)
        assert order["status"] == "open" and 0 < order["filled"] < 1
        assert order["info"]["status"] == "PARTIALLY_FILLED"
        await control.price("ETH/USDT", "3400")
        updates = await watcher
        assert [u["status"] for u in updates][-1] == "closed"
        assert updates[-1]["filled"] == 1
        makers = [t for t in await ex.fetch_my_trades("ETH/USDT") if t["takerOrMaker"] == "maker"]
        assert makers and all(t["price"] == 3500.70 for t in makers)


async def test_events_reach_several_subscribers(sim):
    clients = [make_client(ccxtpro.binance, sim.url) for _ in range(2)]
    try:
        watchers = [asyncio.ensure_future(c.watch_orders()) for c in clients]
        await until(lambda: subscribers(sim) == 2)
        order = await clients[0].create_order("BTC/USDT", "limit", "buy", 0.01, 60000, {"clientOrderId": "fan-1"})
        for watcher in watchers:
            (update,) = await asyncio.wait_for(watcher, 3)
            assert update["id"] == order["id"] and update["clientOrderId"] == "fan-1"
            assert update["status"] == "open"
    finally:
        for client in clients:
            await client.close()


async def test_cancel_event_carries_original_client_id(sim, ex):
    order = await ex.create_order("BTC/USDT", "limit", "buy", 0.01, 60000, {"clientOrderId": "orig-1"})
    watcher = asyncio.ensure_future(ex.watch_orders("BTC/USDT"))
    await until(lambda: subscribers(sim) == 1)
    await ex.cancel_order(order["id"], "BTC/USDT")
    (update,) = await asyncio.wait_for(watcher, 3)
    assert update["status"] == "canceled" and update["clientOrderId"] == "orig-1"


async def test_watch_balance_follows_fills(sim, ex):
    watcher = asyncio.ensure_future(ex.watch_balance())
    await until(lambda: subscribers(sim) == 1)
    await ex.create_order("ETH/USDT", "limit", "sell", 2, 4000)
    balance = await asyncio.wait_for(watcher, 3)
    assert balance["ETH"]["free"] == 8 and balance["ETH"]["used"] == 2


async def test_ws_drop_loses_events_and_reconnect_resumes(sim, ex, control):
    watcher = asyncio.ensure_future(ex.watch_orders("BTC/USDT"))
    await until(lambda: subscribers(sim) == 1)
    assert (await control.call("POST", "/_sim/ws/drop"))["dropped"] == 1
    with pytest.raises(ccxtpro.NetworkError):
        await asyncio.wait_for(watcher, 3)
    missed = await ex.create_order("BTC/USDT", "limit", "buy", 0.01, 60000, {"clientOrderId": "missed-1"})
    watcher = asyncio.ensure_future(ex.watch_orders("BTC/USDT"))
    await until(lambda: subscribers(sim) == 1)
    seen = await ex.create_order("BTC/USDT", "limit", "buy", 0.01, 60001, {"clientOrderId": "seen-1"})
    updates = await asyncio.wait_for(watcher, 3)
    assert [u["id"] for u in updates] == [seen["id"]]
    assert missed["id"] not in [u["id"] for u in ex.orders]
    assert (await ex.fetch_order(None, "BTC/USDT", {"clientOrderId": "missed-1"}))["status"] == "open"


class TestMarketStreams:
    @pytest.fixture
    def sim_config(self):
        return SimConfig(price_model="walk", tick_interval=0.05)

    async def test_watch_ticker(self, ex):
        # ccxt.pro's default channel is miniTicker (no bid/ask); name="ticker" selects the full one
        mini = await asyncio.wait_for(ex.watch_ticker("BTC/USDT"), 3)
        assert mini["info"]["e"] == "24hrMiniTicker"
        assert mini["symbol"] == "BTC/USDT" and mini["low"] <= mini["last"] <= mini["high"]
        full = await asyncio.wait_for(ex.watch_ticker("ETH/USDT", {"name": "ticker"}), 3)
        assert full["info"]["e"] == "24hrTicker" and "ps" not in full["info"]
        assert full["bid"] < full["ask"] and full["last"] > 0 and full["timestamp"]

    async def test_watch_order_book_stays_consistent(self, ex):
        book = await asyncio.wait_for(ex.watch_order_book("BTC/USDT"), 3)
        for _ in range(5):   # several diff updates apply without a sequence gap
            book = await asyncio.wait_for(ex.watch_order_book("BTC/USDT"), 3)
        assert book["symbol"] == "BTC/USDT" and isinstance(book["nonce"], int)
        assert len(book["bids"]) == 20 and len(book["asks"]) == 20
        assert book["bids"][0][0] < book["asks"][0][0]

    async def test_watch_trades(self, ex):
        trades = await asyncio.wait_for(ex.watch_trades("ETH/USDT"), 3)
        assert trades and trades[0]["symbol"] == "ETH/USDT" and trades[0]["price"] > 0
        assert trades[0]["side"] in ("buy", "sell")

    async def test_watch_bids_asks(self, ex):
        tickers = await asyncio.wait_for(ex.watch_bids_asks(["ETH/USDT"]), 3)
        assert tickers["ETH/USDT"]["bid"] < tickers["ETH/USDT"]["ask"]
