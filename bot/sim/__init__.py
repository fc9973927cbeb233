"""Simulated Binance Spot exchange for tests, demos and benchmarks: a real aiohttp server on loopback.

``SimServer`` speaks enough of Binance's wire protocol (REST ``/api/v3``, the ws-api user data stream at
``/ws-api/v3`` and the public market streams at ``/ws`` and ``/stream``) that the unmodified ccxt
``binance`` connector works against it with only its URLs rewritten (``bot.venues.local.local_overrides``).
Behind the wire sits a deterministic (seeded) matching engine: a synthetic order book around a moving mid
price (random walk, static or CSV replay), market orders that walk and exhaust the book, resting limits
that fill when the market crosses them, stop-loss / take-profit triggers, OCO lists, balances that lock on
placement and settle with fees, Binance's filters, error codes and order-count limit. A control API under
``/_sim/`` (state, price moves, fault injection, websocket drops, balances, reset) lets tests script faults.
"""
from .config import SimConfig
from .server import SimServer

__all__ = ["SimConfig", "SimServer"]
