"""One growth point in a fresh process (so RSS is this configuration's alone):
``python -m bench.growth --symbols N --prefill M --rate R --duration S`` prints one JSON line."""
from __future__ import annotations

import argparse
import asyncio
import json

from bench.scenarios import growth_point


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--symbols", type=int, default=2)
    parser.add_argument("--prefill", type=int, default=0)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--duration", type=float, default=2)
    args = parser.parse_args()
    symbols = ["BTC/USDT", "ETH/USDT"][:args.symbols] if args.symbols <= 2 else \
        [f"SYM{i}/USDT" for i in range(1, args.symbols + 1)]
    result = asyncio.run(growth_point(symbols, prefill=args.prefill, rate=args.rate, duration=args.duration))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
