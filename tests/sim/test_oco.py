"""OCO order lists through ccxt's raw Binance endpoints (ccxt has no unified OCO call)."""
from __future__ import annotations

import ccxt.pro as ccxtpro
import pytest


async def place_sell_oco(ex, **extra):
    params = {"symbol": "BTCUSDT", "side": "SELL", "quantity": "0.5",
              "aboveType": "LIMIT_MAKER", "abovePrice": "70000", "aboveClientOrderId": "tp-1",
              "belowType": "STOP_LOSS_LIMIT", "belowStopPrice": "65000", "belowPrice": "64900",
              "belowTimeInForce": "GTC", "belowClientOrderId": "sl-1", "listClientOrderId": "oco-1"}
    return await ex.private_post_orderlist_oco({**params, **extra})


async def test_oco_placement_shape_and_lookup(ex, control):
    result = await place_sell_oco(ex)
    assert result["contingencyType"] == "OCO" and result["listOrderStatus"] == "EXECUTING"
    legs = [ex.parse_order(report) for report in result["orderReports"]]
    assert [(leg["clientOrderId"], leg["status"]) for leg in legs] == [("sl-1", "open"), ("tp-1", "open")]
    assert legs[0]["triggerPrice"] == 65000
    state = await control.state()
    assert state["balances"]["BTC"] == {"free": "0.50000000", "locked": "0.50000000"}  # one lock for the pair
    fetched = await ex.private_get_orderlist({"orderListId": result["orderListId"]})
    assert fetched["listClientOrderId"] == "oco-1" and len(fetched["orders"]) == 2
    by_client_id = await ex.private_get_orderlist({"origClientOrderId": "oco-1"})
    assert by_client_id["orderListId"] == result["orderListId"]


async def test_take_profit_fill_expires_the_stop(ex, control):
    result = await place_sell_oco(ex)
    await control.price("BTC/USDT", "70100")
    stop, target = [await ex.fetch_order(str(o["orderId"]), "BTC/USDT") for o in result["orders"]]
    assert target["status"] == "closed" and target["average"] == 70000
    assert stop["status"] == "expired"
    assert (await ex.private_get_orderlist({"orderListId": result["orderListId"]}))["listOrderStatus"] == "ALL_DONE"
    state = await control.state()
    assert state["balances"]["BTC"] == {"free": "0.50000000", "locked": "0.00000000"}


async def test_stop_trigger_expires_the_target(ex, control):
    result = await place_sell_oco(ex)
    await control.price("BTC/USDT", "64950")
    stop, target = [await ex.fetch_order(str(o["orderId"]), "BTC/USDT") for o in result["orders"]]
    assert stop["status"] == "closed" and target["status"] == "expired"


async def test_cancel_list_and_cancel_leg(ex, control):
    first = await place_sell_oco(ex)
    cancelled = await ex.private_delete_orderlist({"symbol": "BTCUSDT", "orderListId": first["orderListId"]})
    assert cancelled["listStatusType"] == "ALL_DONE"
    assert {r["status"] for r in cancelled["orderReports"]} == {"CANCELED"}
    second = await place_sell_oco(ex)   # client ids are free again once the first list is done
    await ex.cancel_order(str(second["orders"][1]["orderId"]), "BTC/USDT")
    assert await ex.fetch_open_orders("BTC/USDT") == []   # cancelling one leg cancels the list
    assert (await control.state())["balances"]["BTC"]["locked"] == "0.00000000"


async def test_oco_price_relationship_and_types_are_checked(ex):
    with pytest.raises(ccxtpro.InvalidOrder, match="relationship of the prices"):
        await place_sell_oco(ex, abovePrice="66000")
    with pytest.raises(ccxtpro.BadRequest):
        await place_sell_oco(ex, aboveType="STOP_LOSS", aboveStopPrice="70000", abovePrice=None)
    with pytest.raises(ccxtpro.OrderNotFound):
        await ex.private_delete_orderlist({"symbol": "BTCUSDT", "orderListId": 999})


async def test_buy_oco(ex, control):
    result = await ex.private_post_orderlist_oco({
        "symbol": "ETHUSDT", "side": "BUY", "quantity": "1",
        "aboveType": "STOP_LOSS", "aboveStopPrice": "3600",
        "belowType": "LIMIT_MAKER", "belowPrice": "3400"})
    await control.price("ETH/USDT", "3610")
    legs = [await ex.fetch_order(str(o["orderId"]), "ETH/USDT") for o in result["orders"]]
    assert sorted(leg["status"] for leg in legs) == ["closed", "expired"]
