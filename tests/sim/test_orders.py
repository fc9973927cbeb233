"""Order placement, matching and lookup through ccxt's unified API against the simulator."""
from __future__ import annotations

from decimal import Decimal

import pytest
import ccxt.pro as ccxtpro



def balance(state: dict, asset: str) -> tuple[Decimal, Decimal]:
    row = state["balances"][asset]
    return Decimal(row["free"]), Decimal(row["locked"])


async def test_market_buy_fills_at_ask_and_charges_fee_in_base(ex, control):
    order = await ex.create_order("BTC/USDT", "market", "buy", 0.01)
    assert order["status"] == "closed" and order["filled"] == 0.01
    assert order["average"] == 67006.70
    assert order["fee"] == {"currency": "BTC", "cost": 0.00001}
    state = await control.state()
    assert balance(state, "BTC") == (Decimal("1.00999"), 0)
    assert balance(state, "USDT") == (Decimal("100000") - Decimal("670.067"), 0)


async def test_market_sell_walks_the_book_with_slippage(ex):
    book = await ex.fetch_order_book("BTC/USDT")
    first_level = book["bids"][0][1]
    order = await ex.create_order("BTC/USDT", "market", "sell", 1)
    assert order["status"] == "closed" and order["filled"] == 1
    assert len(order["trades"]) >= 2 and order["trades"][0]["amount"] == first_level
    assert order["average"] < book["bids"][0][0]
    assert order["fee"]["currency"] == "USDT"


async def test_limit_rests_locks_funds_and_fills_when_price_crosses(ex, control):
    order = await ex.create_order("BTC/USDT", "limit", "buy", 0.1, 60000, {"clientOrderId": "rest-1"})
    assert order["status"] == "open" and order["clientOrderId"] == "rest-1"
    assert balance(await control.state(), "USDT") == (Decimal("94000"), Decimal("6000"))
    await control.price("BTC/USDT", "59990")
    filled = await ex.fetch_order(order["id"], "BTC/USDT")
    assert filled["status"] == "closed" and filled["average"] == 60000
    trades = await ex.fetch_my_trades("BTC/USDT")
    assert trades[-1]["takerOrMaker"] == "maker" and trades[-1]["order"] == order["id"]
    assert balance(await control.state(), "USDT") == (Decimal("94000"), 0)


async def test_limit_crossing_the_book_takes_and_gets_price_improvement(ex):
    order = await ex.create_order("ETH/USDT", "limit", "buy", 1, 3600)
    assert order["status"] == "closed" and order["average"] == 3500.35
    assert order["trades"][0]["takerOrMaker"] is None or order["trades"][0]["price"] == 3500.35


async def test_ioc_and_fok(ex):
    ioc = await ex.create_order("ETH/USDT", "limit", "buy", 1, 3000, {"timeInForce": "IOC"})
    assert ioc["status"] == "expired" and ioc["filled"] == 0
    fok = await ex.create_order("ETH/USDT", "limit", "buy", 20, 3500.35, {"timeInForce": "FOK"})
    assert fok["status"] == "expired" and fok["filled"] == 0
    ok = await ex.create_order("ETH/USDT", "limit", "buy", 1, 3500.70, {"timeInForce": "FOK"})
    assert ok["status"] == "closed"


async def test_post_only_becomes_limit_maker(ex):
    order = await ex.create_order("BTC/USDT", "limit", "sell", 0.01, 68000, {"postOnly": True})
    assert order["info"]["type"] == "LIMIT_MAKER" and order["status"] == "open"
    with pytest.raises(ccxtpro.InvalidOrder, match="would immediately match"):
        await ex.create_order("BTC/USDT", "limit", "sell", 0.01, 66000, {"postOnly": True})


async def test_stop_loss_limit_triggers_on_last_price(ex, control):
    order = await ex.create_order("BTC/USDT", "limit", "sell", 0.1, 64900, {"stopLossPrice": 65000})
    assert order["info"]["type"] == "STOP_LOSS_LIMIT"
    fetched = await ex.fetch_order(order["id"], "BTC/USDT")
    assert fetched["status"] == "open" and fetched["info"]["isWorking"] is False
    assert fetched["triggerPrice"] == 65000
    await control.price("BTC/USDT", "64990")
    fetched = await ex.fetch_order(order["id"], "BTC/USDT")
    assert fetched["status"] == "closed" and fetched["average"] >= 64900


async def test_take_profit_market_triggers(ex, control):
    order = await ex.create_order("BTC/USDT", "market", "sell", 0.1, None, {"takeProfitPrice": 70000})
    assert order["info"]["type"] == "TAKE_PROFIT"
    await control.price("BTC/USDT", "69000")
    assert (await ex.fetch_order(order["id"], "BTC/USDT"))["status"] == "open"
    await control.price("BTC/USDT", "70100")
    done = await ex.fetch_order(order["id"], "BTC/USDT")
    assert done["status"] == "closed" and done["average"] > 70000


async def test_stop_that_would_trigger_immediately_is_rejected(ex):
    with pytest.raises(ccxtpro.InvalidOrder, match="trigger immediately"):
        await ex.create_order("BTC/USDT", "market", "sell", 0.1, None, {"stopLossPrice": 68000})


async def test_take_profit_limit_buy(ex, control):
    order = await ex.create_order("ETH/USDT", "limit", "buy", 1, 3001, {"takeProfitPrice": 3000})
    assert order["info"]["type"] == "TAKE_PROFIT_LIMIT"
    await control.price("ETH/USDT", "2999")
    assert (await ex.fetch_order(order["id"], "ETH/USDT"))["status"] == "closed"


async def test_client_order_id_lookup_reuse_and_duplicates(ex, control):
    first = await ex.create_order("BTC/USDT", "limit", "buy", 0.01, 60000, {"clientOrderId": "dup-1"})
    with pytest.raises(ccxtpro.InvalidOrder, match="Duplicate order sent"):
        await ex.create_order("BTC/USDT", "limit", "buy", 0.01, 60000, {"clientOrderId": "dup-1"})
    cancelled = await ex.cancel_order(first["id"], "BTC/USDT")
    assert cancelled["status"] == "canceled" and cancelled["info"]["origClientOrderId"] == "dup-1"
    # unique only among open orders: the id may be reused, and a lookup returns the latest order
    second = await ex.create_order("BTC/USDT", "limit", "buy", 0.01, 60001, {"clientOrderId": "dup-1"})
    found = await ex.fetch_order(None, "BTC/USDT", {"clientOrderId": "dup-1"})
    assert found["id"] == second["id"] and found["status"] == "open"
    assert len(await ex.fetch_open_orders("BTC/USDT")) == 1
    assert len(await ex.fetch_orders("BTC/USDT")) == 2


async def test_fetch_open_orders_and_cancel_all(ex):
    for price in (60000, 60100, 60200):
        await ex.create_order("BTC/USDT", "limit", "buy", 0.01, price)
    assert [o["price"] for o in await ex.fetch_open_orders("BTC/USDT")] == [60000, 60100, 60200]
    result = await ex.cancel_all_orders("BTC/USDT")
    assert len(result) == 3
    assert await ex.fetch_open_orders("BTC/USDT") == []


async def test_fetch_my_trades_lists_fills_with_fees(ex):
    await ex.create_order("BTC/USDT", "market", "buy", 0.01)
    await ex.create_order("BTC/USDT", "market", "sell", 0.01)
    trades = await ex.fetch_my_trades("BTC/USDT")
    assert [t["side"] for t in trades] == ["buy", "sell"]
    assert trades[0]["fee"]["currency"] == "BTC" and trades[1]["fee"]["currency"] == "USDT"
    assert all(t["takerOrMaker"] == "taker" for t in trades)


async def test_fetch_balance_reflects_locks(ex):
    await ex.create_order("ETH/USDT", "limit", "sell", 2, 4000)
    bal = await ex.fetch_balance()
    assert bal["ETH"] == {"free": 8.0, "used": 2.0, "total": 10.0}


async def test_quote_order_qty_market_buy(ex):
    order = await ex.create_order("ETH/USDT", "market", "buy", None, None, {"quoteOrderQty": 350.04})
    assert order["status"] == "closed" and order["filled"] == 0.1
