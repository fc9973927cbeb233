"""Fixtures: a SimServer on a free loopback port and real ccxt binance clients pointed at it."""
from __future__ import annotations

from decimal import Decimal

import aiohttp
import ccxt.async_support as ccxt_async
import ccxt.pro as ccxtpro
import pytest

from bot.sim import SimConfig, SimServer
from bot.venues.local import local_overrides


def make_client(cls, url: str, **extra):
    config = local_overrides(cls, url)
    options = {**config["options"], **extra.pop("options", {})}
    return cls({**config, "options": options, "apiKey": "sim-key", "secret": "sim-secret",
                "enableRateLimit": False, **extra})


@pytest.fixture
def sim_config() -> SimConfig:
    # static prices: nothing moves unless a test moves it through /_sim/price
    return SimConfig(price_model="static")


@pytest.fixture
async def sim(sim_config):
    server = SimServer(sim_config)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def ex(sim):
    client = make_client(ccxtpro.binance, sim.url)
    await client.load_markets()
    yield client
    await client.close()


@pytest.fixture
async def rest_ex(sim):
    client = make_client(ccxt_async.binance, sim.url)
    await client.load_markets()
    yield client
    await client.close()


class Control:
    def __init__(self, url: str):
        self.url = url

    async def call(self, method: str, path: str, body=None) -> dict:
        async with aiohttp.ClientSession() as session:
            async with session.request(method, self.url + path, json=body) as resp:
                assert resp.status == 200, await resp.text()
                return await resp.json()

    async def state(self) -> dict:
        return await self.call("GET", "/_sim/state")

    async def price(self, symbol: str, price: str) -> dict:
        return await self.call("POST", "/_sim/price", {"symbol": symbol, "price": price})

    async def faults(self, *rules: dict) -> dict:
        return await self.call("POST", "/_sim/faults", {"rules": list(rules)})


@pytest.fixture
def control(sim) -> Control:
    return Control(sim.url)


def dec(value) -> Decimal:
    return Decimal(str(value))
