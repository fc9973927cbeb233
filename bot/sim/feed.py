"""The demo signal feed (`tradewire feed`): a websocket server speaking SPEC §4.2, emitting native signals
(§4.1) with stop-loss and take-profit, in the style of a VoiceOfChain stream.

It keeps every frame it sent (bounded) so a client that reconnects with ``since`` gets the missed ones
replayed. Prices come from the simulator's ticker when ``price_url`` is given, else from a seeded walk.
"""
from __future__ import annotations

import asyncio
import json
import random
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import aiohttp
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

DEFAULT_PRICES = {"BTC/USDT": Decimal("67000"), "ETH/USDT": Decimal("3500")}


@dataclass
class FeedConfig:
    host: str = "127.0.0.1"
    port: int = 0
    rate: float = 1.0                     # signals per second
    symbols: list[str] = field(default_factory=lambda: ["BTC/USDT", "ETH/USDT"])
    seed: int = 1
    token: str | None = None              # when set, subscribers must present it
    heartbeat_interval: float = 2.0
    price_url: str | None = None          # e.g. the simulator's http://127.0.0.1:PORT
    bad_every: int = 0                    # every Nth frame is malformed (robustness demos and tests)
    source: str = "demo"
    history: int = 10_000


class FeedServer:
    def __init__(self, config: FeedConfig | None = None):
        self.config = config or FeedConfig()
        self.rng = random.Random(self.config.seed)
        self.seq = 0
        # Signal ids are unique per (source, id) forever: a restarted feed is a new stream with new ids.
        self.run_id = format(int(time.time()), "x")
        self.frames: deque[tuple[int, str]] = deque(maxlen=self.config.history)
        self.clients: set[ServerConnection] = set()
        self.prices = {s: DEFAULT_PRICES.get(s, Decimal("100")) for s in self.config.symbols}
        self._server: Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._http: aiohttp.ClientSession | None = None
        self.port = self.config.port
        self.url = ""

    async def start(self) -> None:
        self._server = await serve(self._client, self.config.host, self.config.port, ping_interval=None)
        self.port = self._server.sockets[0].getsockname()[1] if self._server.sockets else self.config.port
        self.url = f"ws://{self.config.host}:{self.port}"
        if self.config.price_url:
            self._http = aiohttp.ClientSession()
        self._tasks = [asyncio.create_task(self._emit_loop()), asyncio.create_task(self._heartbeat_loop())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._http is not None:
            await self._http.close()

    async def __aenter__(self) -> "FeedServer":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- clients ------------------------------------------------------------------------------------

    async def _client(self, ws: ServerConnection) -> None:
        try:
            hello = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
        except (ValueError, asyncio.TimeoutError, ConnectionClosed):
            await ws.close(1002, "expected a subscribe frame")
            return
        if not isinstance(hello, dict) or hello.get("op") != "subscribe":
            await ws.close(1002, "expected {op: subscribe}")
            return
        if self.config.token and hello.get("token") != self.config.token:
            await ws.close(4001, "bad token")
            return
        since = hello.get("since") or 0
        for seq, text in list(self.frames):      # replay what the client missed, then go live
            if seq > since:
                await ws.send(text)
        self.clients.add(ws)
        try:
            await ws.wait_closed()
        finally:
            self.clients.discard(ws)

    def _broadcast(self, text: str) -> None:
        for ws in list(self.clients):
            # Each send is queued on the connection; a client that stops reading is dropped by its close.
            asyncio.ensure_future(self._send(ws, text))

    @staticmethod
    async def _send(ws: ServerConnection, text: str) -> None:
        try:
            await ws.send(text)
        except ConnectionClosed:
            pass

    def publish(self, signal: dict[str, Any] | str) -> int:
        """Sends one signal frame (or, given a string, that raw frame) to every subscriber; returns its seq."""
        self.seq += 1
        if isinstance(signal, str):
            text = signal
        else:
            text = json.dumps({"type": "signal", "seq": self.seq, "signal": signal})
        self.frames.append((self.seq, text))
        self._broadcast(text)
        return self.seq

    # -- generation ---------------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_interval)
            now = datetime.now(timezone.utc).isoformat()
            self._broadcast(json.dumps({"type": "heartbeat", "seq": self.seq, "ts": now}))

    async def _emit_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0 / self.config.rate)
            symbol = self.rng.choice(self.config.symbols)
            price = await self._price(symbol)
            if self.config.bad_every and (self.seq + 1) % self.config.bad_every == 0:
                self.publish(json.dumps({"type": "signal", "seq": self.seq + 1, "signal": {"id": "broken"}}))
                continue
            self.publish(self.make_signal(symbol, price))

    async def _price(self, symbol: str) -> Decimal:
        if self._http is not None:
            market_id = symbol.replace("/", "")
            try:
                async with self._http.get(f"{self.config.price_url}/api/v3/ticker/price",
                                          params={"symbol": market_id}) as response:
                    self.prices[symbol] = Decimal((await response.json())["price"])
            except (aiohttp.ClientError, KeyError, ValueError, asyncio.TimeoutError):
                pass                              # keep the last known price
        else:
            step = Decimal(str(round(self.rng.gauss(0, 0.002), 6)))
            self.prices[symbol] = (self.prices[symbol] * (1 + step)).quantize(Decimal("0.01"))
        return self.prices[symbol]

    def make_signal(self, symbol: str, price: Decimal) -> dict[str, Any]:
        side = self.rng.choice(["buy", "sell"])
        direction = 1 if side == "buy" else -1
        stop = price * (1 - direction * Decimal("0.01"))
        targets = [price * (1 + direction * Decimal(pct)) for pct in ("0.01", "0.02")]
        return {
            "id": f"{self.config.source}-{self.run_id}-{self.seq + 1:06d}", "source": self.config.source,
            "symbol": symbol,
            "action": "open", "side": side, "entry": {"type": "market"},
            "stop_loss": str(stop.quantize(Decimal("0.01"))),
            "take_profit": [str(t.quantize(Decimal("0.01"))) for t in targets],
            "confidence": round(self.rng.uniform(0.55, 0.95), 2), "timeframe": "15m",
            "generated_at": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"), "ttl": 30, "meta": {},
        }
