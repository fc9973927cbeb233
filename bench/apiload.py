"""Open-loop load generator for ``POST /v1/orders`` in its own process (so its CPU is not the daemon's):
``python -m bench.apiload URL KEY --rate R --duration S --prefix P`` prints one JSON line with the
client-observed latency of every request (seconds) and the status counts."""
from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp


async def run(args: argparse.Namespace) -> dict:
    n = int(args.rate * args.duration)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    headers = {"Authorization": f"Bearer {args.key}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=args.connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        # Warm the connection pool so connection set-up is not counted.
        await asyncio.gather(*(session.get(args.url + "/healthz") for _ in range(min(8, args.connections))),
                             return_exceptions=True)

        async def one(i: int) -> None:
            body = json.dumps({"symbol": args.symbol, "side": "BUY" if i % 2 == 0 else "SELL",
                               "quantity": "0.001", "order_type": "MARKET",
                               "client_order_id": f"{args.prefix}-{i}"})
            started = time.perf_counter()
            try:
                async with session.post(args.url + "/v1/orders", data=body, headers=headers) as resp:
                    await resp.read()
                    status = str(resp.status)
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                status = type(exc).__name__
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1

        tasks = []
        t0 = time.perf_counter() + 0.05
        for i in range(n):
            delay = t0 + i / args.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t0
    return {"latencies": latencies, "statuses": statuses, "sent": n, "elapsed": elapsed}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("key")
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--duration", type=float, default=3)
    parser.add_argument("--prefix", default="load")
    parser.add_argument("--symbol", default="BTC/USDT")
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))), flush=True)


if __name__ == "__main__":
    main()
