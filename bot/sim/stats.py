"""Market statistics from the price history: 24h ticker, book ticker, depth and klines, in Binance JSON."""
from __future__ import annotations

from decimal import Decimal

from .market import Market, fmt

DAY_MS = 86_400_000
INTERVALS_MS = {
    "1s": 1_000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000,
    "12h": 43_200_000, "1d": DAY_MS, "3d": 3 * DAY_MS, "1w": 7 * DAY_MS, "1M": 30 * DAY_MS,
}


def _window(market: Market, now: int) -> list[tuple[int, Decimal, Decimal]]:
    rows = [row for row in market.history if row[0] >= now - DAY_MS]
    return rows or [(now, market.mid, Decimal(0))]


def ticker_24hr(market: Market, now: int) -> dict:
    # No "time" key: ccxt treats a ticker carrying one as a contract ticker.
    rows = _window(market, now)
    open_price, last = rows[0][1], market.last
    volume = sum((qty for _, _, qty in rows), Decimal(0))
    quote_volume = sum((price * qty for _, price, qty in rows), Decimal(0))
    change = last - open_price
    bid = market.bids[0] if market.bids else None
    ask = market.asks[0] if market.asks else None
    return {
        "symbol": market.id,
        "priceChange": fmt(change),
        "priceChangePercent": fmt(change / open_price * 100 if open_price else Decimal(0), 3),
        "weightedAvgPrice": fmt(quote_volume / volume if volume else last),
        "prevClosePrice": fmt(open_price),
        "lastPrice": fmt(last),
        "lastQty": fmt(rows[-1][2]),
        "bidPrice": fmt(bid.price if bid else None), "bidQty": fmt(bid.qty if bid else None),
        "askPrice": fmt(ask.price if ask else None), "askQty": fmt(ask.qty if ask else None),
        "openPrice": fmt(open_price),
        "highPrice": fmt(max(max(p for _, p, _ in rows), last)),
        "lowPrice": fmt(min(min(p for _, p, _ in rows), last)),
        "volume": fmt(volume),
        "quoteVolume": fmt(quote_volume),
        "openTime": rows[0][0],
        "closeTime": now,
        "firstId": 1,
        "lastId": len(market.history),
        "count": len(rows),
    }


def book_ticker(market: Market) -> dict:
    bid = market.bids[0] if market.bids else None
    ask = market.asks[0] if market.asks else None
    return {"symbol": market.id,
            "bidPrice": fmt(bid.price if bid else None), "bidQty": fmt(bid.qty if bid else None),
            "askPrice": fmt(ask.price if ask else None), "askQty": fmt(ask.qty if ask else None)}


def depth_levels(market: Market, limit: int) -> tuple[list[list[str]], list[list[str]]]:
    bids = [[fmt(lv.price), fmt(lv.qty)] for lv in market.bids[:limit]]
    asks = [[fmt(lv.price), fmt(lv.qty)] for lv in market.asks[:limit]]
    return bids, asks


def klines(market: Market, interval_ms: int, start: int | None, end: int | None, limit: int) -> list[list]:
    buckets: dict[int, list] = {}
    for ms, price, qty in market.history:
        if (start is not None and ms < start) or (end is not None and ms > end):
            continue
        open_time = ms - ms % interval_ms
        bar = buckets.get(open_time)
        if bar is None:
            buckets[open_time] = [open_time, price, price, price, price, qty, price * qty, 1]
        else:
            bar[2], bar[3], bar[4] = max(bar[2], price), min(bar[3], price), price
            bar[5] += qty
            bar[6] += price * qty
            bar[7] += 1
    bars = [buckets[key] for key in sorted(buckets)]
    bars = bars[:limit] if start is not None else bars[-limit:]
    return [[b[0], fmt(b[1]), fmt(b[2]), fmt(b[3]), fmt(b[4]), fmt(b[5]), b[0] + interval_ms - 1, fmt(b[6]),
             b[7], fmt(b[5] / 2), fmt(b[6] / 2), "0"] for b in bars]
