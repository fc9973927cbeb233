"""The simulator as a separate process for benchmarks: ``python -m bench.simproc [--symbols ...]``.

A ``SimServer`` with two bench-only additions, none of them inside ``bot/``:
- a middleware timing every ``/api/v3/`` request handler (body read → response built), served at
  ``GET /_bench/handler`` as ``{"path": [seconds, ...]}`` (and reset by ``DELETE /_bench/handler``);
- an order-count limit high enough not to 429 a throughput test (Binance's real one is 100 per 10 s).
It prints ``sim: URL`` on stdout once listening and stops on SIGTERM/SIGINT.
"""
from __future__ import annotations

import argparse
import asyncio
import signal
import time
from collections import defaultdict
from decimal import Decimal

from aiohttp import web

from bot.sim import SimConfig, SimServer


class TimedSim(SimServer):
    def __init__(self, config: SimConfig):
        super().__init__(config)
        self.handler_times: dict[str, list[float]] = defaultdict(list)

    def build_app(self) -> web.Application:
        app = super().build_app()
        times = self.handler_times

        @web.middleware
        async def timer(request: web.Request, handler):
            if not request.path.startswith("/api/v3/"):
                return await handler(request)
            started = time.perf_counter()
            response = await handler(request)
            times[f"{request.method} {request.path}"].append(time.perf_counter() - started)
            return response

        async def get_times(request: web.Request) -> web.Response:
            return web.json_response(times)

        async def clear_times(request: web.Request) -> web.Response:
            times.clear()
            return web.json_response({})

        app.middlewares.append(timer)
        app.router.add_get("/_bench/handler", get_times)
        app.router.add_delete("/_bench/handler", clear_times)
        return app


def config_from(symbols: list[str], seed: int = 1, price_model: str = "walk") -> SimConfig:
    balances = {"USDT": Decimal("1000000000")}
    for symbol in symbols:
        balances[symbol.split("/")[0]] = Decimal("1000000")
    return SimConfig(seed=seed, symbols=symbols, price_model=price_model, balances=balances,
                     order_rate_limit=10_000_000, level_notional=Decimal("100000000"))


async def serve(args: argparse.Namespace) -> None:
    sim = TimedSim(config_from(args.symbols.split(","), args.seed, args.price_model))
    await sim.start()
    print(f"sim: {sim.url}", flush=True)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    await done.wait()
    await sim.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.simproc")
    parser.add_argument("--symbols", default="BTC/USDT,ETH/USDT")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--price-model", default="walk")
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop
        uvloop.install()
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
