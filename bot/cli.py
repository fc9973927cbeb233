"""The ``tradewire`` command line (SPEC §2). Exit codes: 0 success, 2 usage or configuration error,
1 runtime failure. Sub-commands owned by a component register themselves (``register(subparsers)``)."""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from decimal import Decimal
from typing import Any

from bot.obs.logging import configure_logging
from bot.settings import ConfigError, load_settings

log = logging.getLogger("tradewire.cli")

DEFAULT_CONFIG = "config/tradewire.yaml"


def _symbols(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


async def _serve_until_signal(start: Any, stop: Any) -> None:
    import signal

    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    await start()
    try:
        await done.wait()
    finally:
        await stop()


def cmd_run(args: argparse.Namespace) -> int:
    from bot.daemon import Daemon

    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"tradewire: configuration error:\n{exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    daemon = Daemon(settings)
    try:
        asyncio.run(daemon.run(args.duration))
    except ConfigError as exc:
        print(f"tradewire: configuration error:\n{exc}", file=sys.stderr)
        return 2
    except (RuntimeError, OSError) as exc:      # e.g. a venue that cannot be reached, a port in use
        log.error("tradewire stopped: %s", exc)
        print(f"tradewire: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_sim(args: argparse.Namespace) -> int:
    from bot.sim import SimConfig, SimServer

    configure_logging("INFO")
    config = SimConfig(host=args.host, port=args.port, seed=args.seed, symbols=_symbols(args.symbols),
                       price_model=args.price_model)
    if args.balances:
        config.balances = {k: Decimal(v) for k, v in (item.split("=") for item in args.balances.split(","))}
    server = SimServer(config)

    async def start() -> None:
        await server.start()
        log.info("simulated exchange listening on %s (api key %s)", server.url, config.api_key)
        print(f"tradewire sim: {server.url}", flush=True)

    asyncio.run(_serve_until_signal(start, server.stop))
    return 0


def cmd_feed(args: argparse.Namespace) -> int:
    from bot.sim.feed import FeedConfig, FeedServer

    configure_logging("INFO")
    feed = FeedServer(FeedConfig(host=args.host, port=args.port, rate=args.rate, symbols=_symbols(args.symbols),
                                 seed=args.seed, token=args.token, price_url=args.sim, bad_every=args.bad_every,
                                 source=args.source))

    async def start() -> None:
        await feed.start()
        print(f"tradewire feed: {feed.url}", flush=True)

    asyncio.run(_serve_until_signal(start, feed.stop))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tradewire", description="Signal-trading daemon with risk policy and "
                                                                   "protective legs.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("-c", "--config", default=DEFAULT_CONFIG, help=f"configuration file (default {DEFAULT_CONFIG})")
    run.add_argument("--duration", type=float, default=None, help="stop cleanly after this many seconds")
    run.set_defaults(func=cmd_run)

    sim = sub.add_parser("sim", help="run the simulated exchange alone (Binance spot wire)")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8765)
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--symbols", default="BTC/USDT,ETH/USDT")
    sim.add_argument("--price-model", default="walk", help="walk | static | replay:FILE.csv")
    sim.add_argument("--balances", default="", help="starting balances, e.g. USDT=100000,BTC=1")
    sim.set_defaults(func=cmd_sim)

    feed = sub.add_parser("feed", help="run the demo signal feed alone (websocket, SPEC §4.2)")
    feed.add_argument("--host", default="127.0.0.1")
    feed.add_argument("--port", type=int, default=8766)
    feed.add_argument("--rate", type=float, default=1.0, help="signals per second")
    feed.add_argument("--symbols", default="BTC/USDT,ETH/USDT")
    feed.add_argument("--seed", type=int, default=1)
    feed.add_argument("--token", default=None, help="require this subscribe token")
    feed.add_argument("--sim", default=None, help="simulator URL to take prices from (else a seeded walk)")
    feed.add_argument("--source", default="demo", help="source name written into the signals")
    feed.add_argument("--bad-every", type=int, default=0, help="make every Nth frame malformed (demos, tests)")
    feed.set_defaults(func=cmd_feed)

    for module in ("bot.policy.cli", "bot.api.cli", "bot.obs.client"):
        try:
            register = __import__(module, fromlist=["register"]).register
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        return int(args.func(args) or 0)
    except SystemExit as exc:      # a command may exit early with its code (2: usage, 1: runtime)
        return int(exc.code or 0)


if __name__ == "__main__":
    raise SystemExit(main())
