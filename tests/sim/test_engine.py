"""Engine invariants without any network: locks match open orders, and balances move only by trades and fees."""
from __future__ import annotations

import random
from decimal import Decimal

from bot.sim import SimConfig
from bot.sim.engine import Engine
from bot.sim.errors import BinanceError

ZERO = Decimal(0)


def random_params(rng: random.Random, engine: Engine) -> dict:
    market = rng.choice(list(engine.data.markets.values()))
    mid = market.mid
    side = rng.choice(["BUY", "SELL"])
    otype = rng.choice(["MARKET", "LIMIT", "LIMIT_MAKER", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
                        "TAKE_PROFIT_LIMIT"])
    qty = (Decimal(rng.randint(1, 300)) * market.filters.step_size * 100).quantize(market.filters.step_size)
    params = {"symbol": market.id, "side": side, "type": otype, "quantity": str(qty)}
    offset = Decimal(rng.randint(-300, 300)) / 10000
    price = (mid * (1 + offset)).quantize(market.filters.tick_size)
    if otype in ("LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"):
        params["price"] = str(price)
    if otype in ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"):
        params["timeInForce"] = rng.choice(["GTC", "GTC", "IOC", "FOK"])
    if otype.startswith(("STOP", "TAKE")):
        params["stopPrice"] = str(price)
    return params


def random_oco(rng: random.Random, engine: Engine) -> dict:
    market = rng.choice(list(engine.data.markets.values()))
    tick = market.filters.tick_size
    up = (market.mid * (1 + Decimal(rng.randint(5, 200)) / 10000)).quantize(tick)
    down = (market.mid * (1 - Decimal(rng.randint(5, 200)) / 10000)).quantize(tick)
    qty = (Decimal(rng.randint(1, 300)) * market.filters.step_size * 100).quantize(market.filters.step_size)
    params = {"symbol": market.id, "quantity": str(qty)}
    if rng.random() < 0.5:
        params |= {"side": "SELL", "aboveType": "LIMIT_MAKER", "abovePrice": str(up),
                   "belowType": "STOP_LOSS_LIMIT", "belowStopPrice": str(down), "belowPrice": str(down - tick),
                   "belowTimeInForce": "GTC"}
    else:
        params |= {"side": "BUY", "aboveType": "STOP_LOSS", "aboveStopPrice": str(up),
                   "belowType": "LIMIT_MAKER", "belowPrice": str(down)}
    return params


def test_locks_and_conservation_under_random_flow():
    clock = iter(range(10**12, 10**13)).__next__
    engine = Engine(SimConfig(price_model="walk", walk_bps=Decimal(40)), clock)
    initial = {a: engine.account.free[a] for a in engine.account.free}
    rng = random.Random(42)
    accepted = rejected = 0
    for step in range(600):
        roll = rng.random()
        try:
            if roll < 0.08:
                engine.place_oco(random_oco(rng, engine))
                accepted += 1
            elif roll < 0.55:
                engine.place(random_params(rng, engine))
                accepted += 1
            elif roll < 0.65 and engine.open:
                order = rng.choice(list(engine.open.values()))
                engine.cancel({"symbol": order.market.id, "orderId": str(order.order_id)})
            else:
                engine.step(rng.choice(list(engine.data.markets.values())))
        except BinanceError:
            rejected += 1
        # locked balances equal what open orders still hold
        held: dict[str, Decimal] = {}
        for order in engine.open.values():
            held[order.lock_asset] = held.get(order.lock_asset, ZERO) + order.lock_left
        for asset, locked in engine.account.locked.items():
            assert locked == held.get(asset, ZERO), (step, asset)
        assert all(not o.is_open for o in engine.orders.values() if o.order_id not in engine.open)
    # every unit of every asset is accounted for by the trades and their fees
    expected = dict(initial)
    for trade in engine.trades:
        m = trade.market
        sign = 1 if trade.is_buyer else -1
        expected[m.base] += sign * trade.qty
        expected[m.quote] -= sign * trade.qty * trade.price
        expected[trade.commission_asset] -= trade.commission
    for asset, amount in expected.items():
        assert engine.account.free[asset] + engine.account.locked[asset] == amount, asset
    assert accepted > 100 and rejected > 10 and len(engine.trades) > 50
    assert any(not lst.is_open for lst in engine.lists.values())
