"""Run the simulator on its own: ``python -m bot.sim --port 8765`` (Ctrl-C stops it)."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
from decimal import Decimal

from .config import SimConfig
from .server import SimServer


def parse_args(argv: list[str] | None = None) -> SimConfig:
    parser = argparse.ArgumentParser(prog="python -m bot.sim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--price-model", default="walk", help='"walk", "static" or "replay:/path/to.csv"')
    parser.add_argument("--tick-interval", type=float, default=0.5)
    parser.add_argument("--symbols", default="BTC/USDT,ETH/USDT")
    parser.add_argument("--order-rate-limit", type=int, default=100)
    parser.add_argument("--balance", action="append", default=[], metavar="ASSET=AMOUNT",
                        help="starting balance, repeatable (default USDT=100000 BTC=1 ETH=10)")
    args = parser.parse_args(argv)
    config = SimConfig(host=args.host, port=args.port, seed=args.seed, price_model=args.price_model,
                       tick_interval=args.tick_interval, symbols=args.symbols.split(","),
                       order_rate_limit=args.order_rate_limit)
    if args.balance:
        config.balances = {k: Decimal(v) for k, v in (item.split("=", 1) for item in args.balance)}
    return config


async def serve(config: SimConfig) -> None:
    async with SimServer(config) as sim:
        print(f"simulated Binance spot at {sim.url} (key {config.api_key!r}); Ctrl-C to stop", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
