"""Binance JSON shapes for orders, trades and user-stream events (decimal strings, millisecond times)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .market import fmt

if TYPE_CHECKING:
    from .engine import Order, OrderList, Trade

STOP_TYPES = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")


def _core(order: "Order") -> dict:
    return {
        "symbol": order.market.id,
        "orderId": order.order_id,
        "orderListId": order.list_id,
        "clientOrderId": order.client_id,
    }


def _state(order: "Order") -> dict:
    return {
        "price": fmt(order.price),
        "origQty": fmt(order.qty),
        "executedQty": fmt(order.executed),
        "origQuoteOrderQty": fmt(order.quote_qty),
        "cummulativeQuoteQty": fmt(order.cum_quote),
        "status": order.status,
        "timeInForce": order.tif,
        "type": order.type,
        "side": order.side,
    }


def order_result(order: "Order", resp_type: str, fills: list["Trade"]) -> dict:
    """Response of POST /api/v3/order for newOrderRespType ACK / RESULT / FULL."""
    body = _core(order) | {"transactTime": order.time}
    if resp_type == "ACK":
        return body
    body |= _state(order)
    body["workingTime"] = order.working_time
    if order.type in STOP_TYPES:
        body["stopPrice"] = fmt(order.stop_price)
    body["selfTradePreventionMode"] = "NONE"
    if order.expiry_reason:
        body["expiryReason"] = order.expiry_reason
    if resp_type == "FULL":
        body["fills"] = [
            {"price": fmt(t.price), "qty": fmt(t.qty), "commission": fmt(t.commission),
             "commissionAsset": t.commission_asset, "tradeId": t.id}
            for t in fills
        ]
    return body


def order_query(order: "Order") -> dict:
    """Shape of GET /api/v3/order, openOrders and allOrders."""
    body = _core(order) | _state(order)
    body |= {
        "stopPrice": fmt(order.stop_price),
        "icebergQty": fmt(None),
        "time": order.time,
        "updateTime": order.update_time,
        "isWorking": order.working_time != -1,
        "workingTime": order.working_time,
        "selfTradePreventionMode": "NONE",
    }
    if order.expiry_reason:
        body["expiryReason"] = order.expiry_reason
    return body


def cancel_result(order: "Order", cancel_client_id: str, now: int) -> dict:
    body = {"symbol": order.market.id, "origClientOrderId": order.client_id, "orderId": order.order_id,
            "orderListId": order.list_id, "clientOrderId": cancel_client_id, "transactTime": now}
    body |= _state(order)
    if order.type in STOP_TYPES:
        body["stopPrice"] = fmt(order.stop_price)
    body["selfTradePreventionMode"] = "NONE"
    return body


def my_trade(trade: "Trade") -> dict:
    return {
        "symbol": trade.market.id, "id": trade.id, "orderId": trade.order_id, "orderListId": trade.list_id,
        "price": fmt(trade.price), "qty": fmt(trade.qty), "quoteQty": fmt(trade.price * trade.qty),
        "commission": fmt(trade.commission), "commissionAsset": trade.commission_asset, "time": trade.time,
        "isBuyer": trade.is_buyer, "isMaker": trade.is_maker, "isBestMatch": True,
    }


def execution_report(order: "Order", exec_type: str, now: int, trade: "Trade | None" = None,
                     cancel_client_id: str | None = None) -> dict:
    # On a cancel, "c" carries the cancel request's id and "C" the original one (ccxt prefers C).
    event = {
        "e": "executionReport", "E": now, "s": order.market.id,
        "c": cancel_client_id if cancel_client_id else order.client_id,
        "S": order.side, "o": order.type, "f": order.tif,
        "q": fmt(order.qty), "p": fmt(order.price), "P": fmt(order.stop_price), "F": fmt(None),
        "g": order.list_id, "C": order.client_id if cancel_client_id else "",
        "x": exec_type, "X": order.status, "r": "NONE", "i": order.order_id,
        "l": fmt(trade.qty if trade else None), "z": fmt(order.executed),
        "L": fmt(trade.price if trade else None),
        "n": fmt(trade.commission) if trade else "0", "N": trade.commission_asset if trade else None,
        "T": trade.time if trade else now, "t": trade.id if trade else -1,
        "I": order.next_exec_id(), "w": order.is_open and order.working_time != -1,
        "m": trade.is_maker if trade else False, "M": False,
        "O": order.time, "Z": fmt(order.cum_quote),
        "Y": fmt(trade.price * trade.qty if trade else None),
        "Q": fmt(order.quote_qty), "V": "NONE",
    }
    if order.working_time != -1:
        event["W"] = order.working_time
    if order.expiry_reason and order.status == "EXPIRED":
        event["eR"] = order.expiry_reason
    return event


def list_status(order_list: "OrderList", now: int, reports: list[dict] | None = None) -> dict:
    body = {
        "orderListId": order_list.list_id, "contingencyType": "OCO",
        "listStatusType": order_list.status_type, "listOrderStatus": order_list.order_status,
        "listClientOrderId": order_list.client_id, "transactionTime": order_list.time,
        "symbol": order_list.market.id,
        "orders": [{"symbol": o.market.id, "orderId": o.order_id, "clientOrderId": o.client_id}
                   for o in order_list.orders],
    }
    if reports is not None:
        body["orderReports"] = reports
    return body


def list_status_event(order_list: "OrderList", now: int) -> dict:
    return {
        "e": "listStatus", "E": now, "s": order_list.market.id, "g": order_list.list_id, "c": "OCO",
        "l": order_list.status_type, "L": order_list.order_status, "r": "NONE",
        "C": order_list.client_id, "T": now,
        "O": [{"s": o.market.id, "i": o.order_id, "c": o.client_id} for o in order_list.orders],
    }
