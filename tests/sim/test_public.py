"""Public market data through the real ccxt binance connector."""
from __future__ import annotations

import time

from .conftest import dec


async def test_load_markets_reads_filters(ex):
    market = ex.market("BTC/USDT")
    assert market["id"] == "BTCUSDT" and market["spot"] and market["active"]
    assert dec(market["precision"]["price"]) == dec("0.01")
    assert dec(market["precision"]["amount"]) == dec("0.00001")
    assert dec(market["limits"]["cost"]["min"]) == 5
    assert "ETH/USDT" in ex.markets


async def test_fetch_time_is_server_clock(ex):
    assert abs(await ex.fetch_time() - time.time() * 1000) < 5000


async def test_fetch_ticker_is_a_spot_ticker(ex):
    ticker = await ex.fetch_ticker("BTC/USDT")
    assert ticker["symbol"] == "BTC/USDT"
    assert ticker["bid"] < ticker["last"] < ticker["ask"]
    assert "time" not in ticker["info"]
    assert ticker["baseVolume"] > 0


async def test_fetch_order_book_levels_and_nonce(ex):
    book = await ex.fetch_order_book("ETH/USDT", limit=5)
    assert len(book["bids"]) == 5 and len(book["asks"]) == 5
    assert book["bids"][0][0] < book["asks"][0][0]
    assert book["bids"] == sorted(book["bids"], reverse=True)
    assert isinstance(book["nonce"], int)


async def test_fetch_ohlcv_has_history_at_startup(ex):
    candles = await ex.fetch_ohlcv("BTC/USDT", "1m", limit=100)
    assert len(candles) == 100
    ts, o, h, low, c, v = candles[-1]
    assert low <= o <= h and low <= c <= h and v >= 0
    assert candles[0][0] < candles[-1][0]


async def test_price_and_book_tickers(ex, control):
    await control.price("BTC/USDT", "50000")
    price = await ex.public_get_ticker_price({"symbol": "BTCUSDT"})
    assert price == {"symbol": "BTCUSDT", "price": "50000.00000000"}
    books = await ex.public_get_ticker_bookticker()
    assert {b["symbol"] for b in books} == {"BTCUSDT", "ETHUSDT"}
    assert dec(books[0]["bidPrice"]) < dec(books[0]["askPrice"])
