"""Per-symbol market state: trading filters, the price model, the synthetic book and the price history.

The book is synthetic: ``book_levels`` price levels each side around the mid, regenerated at every price
step. Taker orders consume it (so a large market order slips and can exhaust it); the consumed liquidity
only comes back at the next step, as on a thin real book.
"""
from __future__ import annotations

import csv
import math
import random
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from .config import DEFAULT_PRICES, SimConfig
from .errors import filter_failure

ONE = Decimal(1)
BPS = Decimal("0.0001")


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step


def ceil_to(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


def fmt(value: Decimal | None, places: int = 8) -> str:
    """Binance prints decimals with a fixed number of places ("0.10000000")."""
    return format((value or Decimal(0)).quantize(Decimal(1).scaleb(-places)), "f")


@dataclass
class Filters:
    tick_size: Decimal
    min_price: Decimal
    max_price: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    max_notional: Decimal = Decimal("9000000")

    @classmethod
    def for_price(cls, price: Decimal, min_notional: Decimal) -> "Filters":
        # Sized like Binance's majors: a cent tick on prices >= 10 and a lot step worth 0.1-1 quote units.
        magnitude = math.floor(math.log10(price))
        tick = Decimal("0.01") if price >= 10 else Decimal(1).scaleb(magnitude - 4)
        step = Decimal(1).scaleb(-(magnitude + 1))
        return cls(tick_size=tick, min_price=tick, max_price=Decimal("1000000"), step_size=step,
                   min_qty=step, max_qty=Decimal("9000"), min_notional=min_notional)

    def check_price(self, price: Decimal) -> None:
        if price < self.min_price or price > self.max_price or (price - self.min_price) % self.tick_size != 0:
            raise filter_failure("PRICE_FILTER")

    def check_qty(self, qty: Decimal) -> None:
        if qty < self.min_qty or qty > self.max_qty or (qty - self.min_qty) % self.step_size != 0:
            raise filter_failure("LOT_SIZE")

    def check_notional(self, notional: Decimal) -> None:
        if notional < self.min_notional or notional > self.max_notional:
            raise filter_failure("NOTIONAL")

    def wire(self) -> list[dict]:
        return [
            {"filterType": "PRICE_FILTER", "minPrice": fmt(self.min_price), "maxPrice": fmt(self.max_price),
             "tickSize": fmt(self.tick_size)},
            {"filterType": "LOT_SIZE", "minQty": fmt(self.min_qty), "maxQty": fmt(self.max_qty),
             "stepSize": fmt(self.step_size)},
            {"filterType": "NOTIONAL", "minNotional": fmt(self.min_notional), "applyMinToMarket": True,
             "maxNotional": fmt(self.max_notional), "applyMaxToMarket": False, "avgPriceMins": 0},
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
        ]


class Replay:
    """CSV replay. Required column ``price``; optional ``symbol`` (e.g. BTC/USDT or BTCUSDT) and ``time``
    (ignored: one row is consumed per tick). Without a ``symbol`` column the single series drives every
    symbol, scaled so each starts at its own initial price. The last price holds when the file ends."""

    def __init__(self, path: str):
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        self.series: dict[str | None, list[Decimal]] = {}
        for row in rows:
            key = row.get("symbol") or None
            if key:
                key = key.replace("/", "").upper()
            self.series.setdefault(key, []).append(Decimal(row["price"].strip()))
        self.cursor: dict[str, int] = {}

    def next(self, market_id: str, initial: Decimal) -> Decimal | None:
        series = self.series.get(market_id) or self.series.get(None)
        if not series:
            return None
        index = min(self.cursor.get(market_id, 0), len(series) - 1)
        self.cursor[market_id] = index + 1
        price = series[index]
        if market_id not in self.series:  # shared series: scale to this symbol's start
            price = initial * price / series[0]
        return price


@dataclass
class Level:
    price: Decimal
    qty: Decimal


@dataclass
class Market:
    symbol: str            # unified, BTC/USDT
    id: str                # BTCUSDT
    base: str
    quote: str
    filters: Filters
    initial: Decimal
    mid: Decimal
    bids: list[Level] = field(default_factory=list)
    asks: list[Level] = field(default_factory=list)
    update_id: int = 1
    history: list[tuple[int, Decimal, Decimal]] = field(default_factory=list)  # (ms, price, qty)

    @property
    def last(self) -> Decimal:
        return self.mid


class MarketData:
    """All markets plus the seeded price model; ``step`` advances every mid by one tick."""

    def __init__(self, config: SimConfig, rng: random.Random):
        self.config = config
        self.rng = rng
        model = config.price_model
        self.replay = Replay(model.split(":", 1)[1]) if model.startswith("replay:") else None
        if model not in ("walk", "static") and self.replay is None:
            raise ValueError(f"unknown price_model {model!r}")
        self.markets: dict[str, Market] = {}
        self.by_id: dict[str, Market] = {}
        for symbol in config.symbols:
            base, quote = symbol.split("/")
            initial = Decimal(config.prices.get(symbol, DEFAULT_PRICES.get(symbol, Decimal(100))))
            filters = Filters.for_price(initial, config.min_notional)
            market = Market(symbol, base + quote, base, quote, filters, initial,
                            floor_to(initial, filters.tick_size))
            self.markets[symbol] = market
            self.by_id[market.id] = market

    def seed_history(self, now_ms: int, points: int = 1000, spacing_ms: int = 60_000) -> None:
        """Backfill one point a minute ending at the initial price, so klines exist at start-up."""
        for market in self.markets.values():
            price = market.mid
            rows = []
            for index in range(points):
                rows.append((now_ms - index * spacing_ms, price, self._trade_qty(market, price)))
                if self.config.price_model == "walk":
                    price = self._walk(market, price)
            market.history = list(reversed(rows))
            self.rebuild(market)

    def _walk(self, market: Market, price: Decimal) -> Decimal:
        move = Decimal(repr(round(self.rng.gauss(0.0, 1.0), 6))) * self.config.walk_bps * BPS
        return max(market.filters.tick_size, floor_to(price * (ONE + move), market.filters.tick_size))

    def _trade_qty(self, market: Market, price: Decimal) -> Decimal:
        notional = Decimal(self.rng.randint(20, 2000))
        return max(market.filters.step_size, floor_to(notional / price, market.filters.step_size))

    def step(self, market: Market) -> None:
        if self.config.price_model == "walk":
            market.mid = self._walk(market, market.mid)
        elif self.replay is not None:
            price = self.replay.next(market.id, market.initial)
            if price is not None:
                market.mid = max(market.filters.tick_size, floor_to(price, market.filters.tick_size))
        self.rebuild(market)

    def set_mid(self, market: Market, price: Decimal) -> None:
        market.mid = max(market.filters.tick_size, floor_to(price, market.filters.tick_size))
        self.rebuild(market)

    def record(self, market: Market, ms: int, price: Decimal, qty: Decimal) -> None:
        market.history.append((ms, price, qty))
        if len(market.history) > self.config.history_len:
            del market.history[: len(market.history) - self.config.history_len]

    def rebuild(self, market: Market) -> None:
        cfg, flt = self.config, market.filters
        half = market.mid * cfg.spread_bps * BPS / 2
        best_bid = floor_to(market.mid - half, flt.tick_size)
        best_ask = ceil_to(market.mid + half, flt.tick_size)
        if best_ask <= best_bid:
            best_ask = best_bid + flt.tick_size
        gap = max(flt.tick_size, floor_to(market.mid * cfg.level_step_bps * BPS, flt.tick_size))
        base_qty = cfg.level_notional / market.mid
        market.bids, market.asks = [], []
        for index in range(cfg.book_levels):
            # deeper levels hold a bit more, jittered deterministically by the seeded rng
            scale = ONE + Decimal(index) / 4 + Decimal(self.rng.randint(-10, 10)) / 100
            qty = max(flt.step_size, floor_to(base_qty * scale, flt.step_size))
            bid = best_bid - gap * index
            if bid > 0:
                market.bids.append(Level(bid, qty))
            market.asks.append(Level(best_ask + gap * index, qty))
        market.update_id += 1
