"""A real execution stack against a real simulator: Store (SQLite on disk) → Execution → CcxtVenue → ccxt →
loopback → SimServer. ``Harness.restart()`` drops every in-memory object and builds them again on the same
database file, which is what a kill -9 leaves behind (committed WAL transactions and nothing else)."""
from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from bot.events import EventBus
from bot.execution import Execution
from bot.execution.protection import ProtectionRules
from bot.execution.submit import SubmitPolicy
from bot.model import Leg, Order, OrderIntent, OrderType, Origin, Side
from bot.sim import SimConfig, SimServer
from bot.store import Store
from bot.venues.ccxt_venue import CcxtVenue

SYMBOL = "BTC/USDT"


class Harness:
    def __init__(self, sim: SimServer, db_path: Path, *, mode: str = "auto", on_leg_failure: str = "flatten",
                 leg_retries: int = 1, timeout_ms: int = 1500):
        self.sim = sim
        self.db_path = db_path
        self.mode = mode
        self.rules = ProtectionRules(on_leg_failure=on_leg_failure, leg_retries=leg_retries)
        self.timeout_ms = timeout_ms
        self.events: list[tuple[str, dict]] = []
        self.execution: Execution | None = None

    async def start(self) -> Execution:
        self.store = Store(self.db_path)
        self.venue = CcxtVenue("main", "binance", url=self.sim.url, api_key="sim-key", secret="sim-secret",
                               timeout_ms=self.timeout_ms)
        await self.venue.connect()
        self.bus = EventBus()
        self.bus.subscribe(lambda kind, payload: self.events.append((kind, payload)))
        self.execution = Execution(self.store, {"main": self.venue}, self.bus, symbols={"main": [SYMBOL]},
                                   submit_policy=SubmitPolicy(unknown_grace=0.2, backoff=0.05),
                                   rules_for=lambda symbol: self.rules, protection_mode=self.mode)
        await self.execution.start()
        return self.execution

    async def stop(self) -> None:
        if self.execution is not None:
            await self.execution.stop()
            await self.venue.close()
            self.store.close()
            self.execution = None

    async def restart(self) -> Execution:
        await self.stop()
        return await self.start()

    async def control(self, method: str, path: str, body=None) -> dict:
        async with aiohttp.ClientSession() as session:
            async with session.request(method, self.sim.url + path, json=body) as resp:
                assert resp.status == 200, await resp.text()
                return await resp.json()

    async def sim_orders(self) -> list[dict]:
        return (await self.control("GET", "/_sim/state"))["orders"]

    async def faults(self, *rules: dict) -> None:
        await self.control("POST", "/_sim/faults", {"rules": list(rules)})

    async def price(self, price: str, symbol: str = SYMBOL) -> None:
        await self.control("POST", "/_sim/price", {"symbol": symbol, "price": price})

    def order(self, ref: str, side: Side = Side.BUY, quantity: str = "0.01", order_type: OrderType = OrderType.MARKET,
              price: str | None = None, stop_loss: str | None = None,
              take_profit: tuple[tuple[str, str], ...] = ()) -> Order:
        assert self.execution is not None
        intent = OrderIntent(account="main", symbol=SYMBOL, side=side, order_type=order_type,
                             quantity=Decimal(quantity), price=Decimal(price) if price else None,
                             stop_loss=Decimal(stop_loss) if stop_loss else None,
                             take_profit=tuple((Decimal(p), Decimal(f)) for p, f in take_profit))
        origin = Origin(kind="signal", source="test", ref=ref)
        cid = self.execution.client_id_for(intent, origin)
        return self.execution.order_for(intent, origin, cid, f"test:{ref}")

    async def settle(self, condition, timeout: float = 10.0) -> None:
        """Waits until ``condition()`` holds (fills and legs arrive asynchronously over the user stream)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not condition():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("condition not reached in time")
            await asyncio.sleep(0.05)

    def venue_position(self, orders: list[dict], symbol: str = SYMBOL) -> Decimal:
        """Net filled base quantity of every order at the venue: what our position must equal."""
        total = Decimal(0)
        for order in orders:
            if order["symbol"] == symbol:
                sign = 1 if order["side"] == "BUY" else -1
                total += sign * Decimal(order["executedQty"])
        return total

    def legs(self, entry: Order) -> list[Order]:
        return [o for o in self.store.children(entry.id) if o.leg in (Leg.STOP_LOSS, Leg.TAKE_PROFIT)]

    def error_codes(self) -> list[str]:
        return [payload.get("code") for kind, payload in self.events if kind == "error"]


@pytest.fixture
async def sim():
    server = SimServer(SimConfig(price_model="static", seed=3))
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def harness(sim, tmp_path):
    h = Harness(sim, tmp_path / "tradewire.db")
    yield h
    await h.stop()
