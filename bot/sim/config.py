"""Simulator configuration: one frozen-ish dataclass with sane defaults for everything."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

# Starting mid prices; any other symbol starts at 100 quote units.
DEFAULT_PRICES: dict[str, Decimal] = {
    "BTC/USDT": Decimal("67000"),
    "ETH/USDT": Decimal("3500"),
}


def _default_symbols() -> list[str]:
    return ["BTC/USDT", "ETH/USDT"]


def _default_balances() -> dict[str, Decimal]:
    return {"USDT": Decimal("100000"), "BTC": Decimal("1"), "ETH": Decimal("10")}


@dataclass
class SimConfig:
    host: str = "127.0.0.1"
    port: int = 0                      # 0 = pick a free port
    seed: int = 1
    symbols: list[str] = field(default_factory=_default_symbols)
    price_model: str = "walk"          # "walk" | "static" | "replay:/path/to.csv"
    balances: dict[str, Decimal] = field(default_factory=_default_balances)
    api_key: str = "sim-key"
    secret: str = "sim-secret"
    tick_interval: float = 0.5         # seconds between price-model steps
    # Initial mids; symbols not listed here fall back to DEFAULT_PRICES, then 100.
    prices: dict[str, Decimal] = field(default_factory=dict)
    # Random walk: each step moves the mid by a normal draw with this stdev, in basis points.
    walk_bps: Decimal = Decimal("5")
    # Synthetic book: levels per side, total spread and the distance between levels (bps of mid),
    # and the quote notional resting on the best level (deeper levels hold a little more).
    book_levels: int = 20
    spread_bps: Decimal = Decimal("2")
    level_step_bps: Decimal = Decimal("1")
    level_notional: Decimal = Decimal("50000")
    maker_fee: Decimal = Decimal("0.001")
    taker_fee: Decimal = Decimal("0.001")
    min_notional: Decimal = Decimal("5")
    # Binance's unfilled-order-count limit (orders per 10 s) -> HTTP 429 / -1015 beyond it.
    order_rate_limit: int = 100
    order_rate_window: float = 10.0
    # Server clock skew in ms (positive = server clock ahead); to exercise -1021 handling.
    clock_offset_ms: int = 0
    # How many past price points feed klines / 24h stats (one per tick).
    history_len: int = 5000
