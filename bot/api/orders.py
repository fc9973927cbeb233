"""Order routes: create (idempotent, 201 / 202), look up, list, cancel, and the hummingbot-api compatible
``POST /trading/orders``. Every API order goes through the same policy gate and execution path as signals:
round → client id → ``gate.evaluate`` → ``execution.place`` with no await in between."""
from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.api.core import Ctx, json_response
from bot.api.errors import ApiError, invalid, not_found
from bot.api.idempotency import request_hash
from bot.api.models import HummingbotTradeRequest, OrderListQuery, OrderRequest
from bot.api.views import event_view, fill_view, order_summary, take_profit_levels
from bot.model import TERMINAL, Order, OrderIntent, OrderStatus, OrderType, Origin, Side, TimeInForce
from bot.obs.logging import redact

if TYPE_CHECKING:
    from bot.api.server import Api

log = logging.getLogger("tradewire.api.orders")

_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
# Venue rejection (``order.error`` = "<CODE>: <message>") → API error code.
_VENUE_UNAVAILABLE = {"AUTHENTICATION", "SUBMIT_FAILED", "FATAL"}


def rejection_code(error: str | None) -> str:
    if not error:
        return "ORDER_REJECTED"
    code, _, message = error.partition(":")
    code = code.strip()
    text = message.upper()
    if code in ("INVALID_ORDER", "INVALID_REQUEST", "ORDER_REJECTED") or not code.isupper():
        if any(word in text for word in ("LOT_SIZE", "QUANTITY", "NOTIONAL")):
            return "INVALID_QUANTITY"
        if "PRICE" in text:
            return "INVALID_PRICE"
        if "MARGIN" in text:
            return "INSUFFICIENT_MARGIN"
        return "INVALID_ORDER"
    return code


class PlaceResult:
    def __init__(self, order: Order, status: int, client_order_id: str | None):
        self.order = order
        self.status = status
        self.client_order_id = client_order_id

    def handle(self) -> dict[str, Any]:
        return {"id": self.order.id, "status": self.order.status.value, "client_order_id": self.client_order_id}


def _intent(req: OrderRequest, account: str, origin: Origin) -> OrderIntent:
    prices = req.take_profit_prices
    share = Decimal(1) / len(prices) if prices else Decimal(1)
    return OrderIntent(
        account=account, symbol=req.symbol, side=Side(req.side), order_type=OrderType(req.order_type),
        quantity=Decimal(req.quantity),
        price=Decimal(req.limit_price) if req.limit_price is not None else None,
        stop_price=Decimal(req.stop_price) if req.stop_price is not None else None,
        time_in_force=TimeInForce(req.time_in_force),
        stop_loss=Decimal(req.stop_loss) if req.stop_loss is not None else None,
        take_profit=tuple((Decimal(p), share) for p in prices), origin=origin)


def _account(api: "Api", name: str | None) -> str:
    accounts = list(api.daemon.execution.venues)
    if name is None:
        if not accounts:
            raise ApiError(503, "VENUE_UNAVAILABLE", "no trading account is configured")
        return accounts[0]
    if name not in api.daemon.execution.venues:
        raise invalid(f"unknown account {name!r}", {"field": "account", "accounts": accounts})
    return name


async def place(api: "Api", ctx: Ctx, req: OrderRequest, *, prefer_async: bool) -> PlaceResult:
    daemon = api.daemon
    execution = daemon.execution
    if not daemon.ready or not execution.accepting:
        raise ApiError(503, "VENUE_UNAVAILABLE", "the daemon is not ready to take orders")
    assert ctx.key is not None
    owner = ctx.key.name
    account = _account(api, req.account)
    header = ctx.request.headers.get("Idempotency-Key")
    if header is not None and not _IDEMPOTENCY_KEY.match(header):
        raise invalid("Idempotency-Key must be 1-255 printable ASCII characters", {"field": "Idempotency-Key"})
    keys = ([f"coid:{req.client_order_id}"] if req.client_order_id else []) + ([f"idem:{header}"] if header else [])
    digest = request_hash({**req.model_dump(mode="json"), "account": account})
    async with api.idempotency.locked(owner, keys):
        replay = _replay(api, owner, keys, digest, req)
        if replay is not None:
            return replay
        ref = req.client_order_id or (f"idem-{header}" if header else uuid.uuid4().hex[:20])
        origin = Origin(kind="api", source=owner, ref=ref, ip=ctx.ip, correlation_id=ctx.correlation_id)
        intent = _intent(req, account, origin)
        _check_venue(api, intent, req)
        intent = execution.round_quantity(intent)
        if not intent.quantity or intent.quantity <= 0:
            raise ApiError(422, "INVALID_QUANTITY", "the quantity rounds to zero at the venue's lot size",
                           {"quantity": req.quantity})
        cid = execution.client_id_for(intent, origin)
        existing = execution.ledger.find_by_id(cid)
        if existing is not None:           # persisted before a crash, idempotency row missing: the same order
            api.idempotency.record(owner, keys, digest, existing.id)
            return PlaceResult(existing, 200, req.client_order_id)
        # -- no await from here until the order is persisted --
        decision = daemon.gate.evaluate(intent, None, key=cid)
        if decision.blocks:
            raise ApiError(422, "POLICY_REJECTED", f"the risk policy rejected the order: {decision.code}",
                           {"code": decision.code, "rule": decision.rule, "limit": decision.limit,
                            "observed": decision.observed})
        order = execution.order_for(decision.intent, origin, cid, None)
        try:
            task = execution.place(order, {"policy_hash": decision.policy_hash, "rule": decision.rule,
                                           "api_key": owner, "ip": ctx.ip, "correlation_id": ctx.correlation_id})
        except RuntimeError as exc:
            daemon.gate.release(cid)
            raise ApiError(503, "VENUE_UNAVAILABLE", str(exc)) from None
        api.idempotency.record(owner, keys, digest, order.id)
        api.record_order(order.id, owner, req.client_order_id, req.callback_url, digest)
    log.info("api order %s %s %s %s %s by key %s from %s", order.id, order.side.value, order.quantity,
             order.symbol, order.order_type.value, owner, ctx.ip)
    if prefer_async:
        return PlaceResult(order, 202, req.client_order_id)
    await asyncio.wait({task}, timeout=api.ack_timeout)   # never cancels the send: it goes on in the background
    if order.status is OrderStatus.REJECTED:
        code = rejection_code(order.error)
        status = 503 if code in _VENUE_UNAVAILABLE else 422
        raise ApiError(status, "VENUE_UNAVAILABLE" if status == 503 else code,
                       redact(order.error or "the venue rejected the order"),
                       {"id": order.id, "status": order.status.value, "client_order_id": req.client_order_id,
                        "venue_code": order.error.partition(":")[0] if order.error else None})
    return PlaceResult(order, 202 if order.status is OrderStatus.PENDING else 201, req.client_order_id)


def _replay(api: "Api", owner: str, keys: list[str], digest: str, req: OrderRequest) -> PlaceResult | None:
    found = api.idempotency.find(owner, keys)
    if not found:
        return None
    order_ids = {order_id for _, _, order_id in found}
    if len(order_ids) > 1 or any(h != digest for _, h, _ in found):
        raise ApiError(409, "IDEMPOTENCY_CONFLICT",
                       "this idempotency key was used with a different request body",
                       {"keys": [k.split(":", 1)[1] for k, _, _ in found], "order_id": found[0][2]})
    order_id = found[0][2]
    order = api.daemon.execution.ledger.find_by_id(order_id)
    if order is None:
        raise ApiError(409, "IDEMPOTENCY_CONFLICT", "this idempotency key belongs to an order that no longer exists",
                       {"order_id": order_id})
    missing = [k for k in keys if k not in {f[0] for f in found}]
    if missing:
        api.idempotency.record(owner, missing, digest, order_id)
    meta = api.order_meta([order_id]).get(order_id, {})
    return PlaceResult(order, 200, meta.get("client_order_id", req.client_order_id))


def _check_venue(api: "Api", intent: OrderIntent, req: OrderRequest) -> None:
    venue = api.daemon.execution.venues[intent.account]
    if not venue.has_symbol(intent.symbol):
        raise ApiError(422, "SYMBOL_NOT_TRADEABLE", f"{intent.symbol} is not traded on account {intent.account}",
                       {"symbol": intent.symbol, "account": intent.account})
    caps = venue.capabilities
    if req.order_type == "TRAILING_STOP" or (caps.order_types and req.order_type not in caps.order_types):
        raise ApiError(422, "ORDER_TYPE_NOT_SUPPORTED",
                       f"{req.order_type} orders are not supported on account {intent.account}",
                       {"order_type": req.order_type, "supported": list(caps.order_types)})
    if caps.time_in_force and req.time_in_force not in caps.time_in_force:
        raise ApiError(422, "TIME_IN_FORCE_NOT_SUPPORTED", f"{req.time_in_force} is not supported",
                       {"time_in_force": req.time_in_force, "supported": list(caps.time_in_force)})


# -- handlers ----------------------------------------------------------------------------------------------

async def create_order(api: "Api", ctx: Ctx) -> web.Response:
    prefer = ctx.request.headers.get("Prefer", "")
    prefer_async = any(p.strip().lower() == "respond-async" for p in prefer.split(","))
    result = await place(api, ctx, ctx.body, prefer_async=prefer_async)
    headers = {"Location": f"/v1/orders/{result.order.id}"}
    if prefer_async and result.status == 202:
        headers["Preference-Applied"] = "respond-async"
    return json_response(result.handle(), result.status, headers)


async def get_order(api: "Api", ctx: Ctx) -> web.Response:
    order = api.daemon.execution.ledger.find_by_id(ctx.request.match_info["id"])
    if order is None:
        raise not_found(f"no order {ctx.request.match_info['id']!r}")
    return json_response(order_detail(api, order))


def order_detail(api: "Api", order: Order) -> dict[str, Any]:
    store = api.daemon.store
    legs = store.children(order.id)
    live = api.daemon.execution.ledger.live
    legs = [live.get(leg.client_id, leg) for leg in legs]
    metas = api.order_meta([order.id, *(leg.id for leg in legs)])
    view = order_summary(order, metas.get(order.id))
    view.update({
        "stop_loss": str(order.stop_loss) if order.stop_loss is not None else None,
        "take_profit": take_profit_levels(order),
        "fills": [fill_view(f) for f in store.fills_for(order.id)],
        "legs": [order_summary(leg, metas.get(leg.id)) for leg in legs],
        "events": [event_view(e) for e in store.order_events(order.id)],
    })
    return view


async def list_orders(api: "Api", ctx: Ctx) -> web.Response:
    q: OrderListQuery = ctx.query
    execution = api.daemon.execution
    if q.client_order_id or q.venue_client_id:
        orders: list[Order] = []
        if q.venue_client_id:
            found = execution.ledger.find_by_id(q.venue_client_id)
            orders = [found] if found is not None else []
        else:
            ids = api.orders_by_client_order_id(q.client_order_id, prefer=ctx.key.name if ctx.key else None)
            orders = [o for o in (execution.ledger.find_by_id(i) for i in ids) if o is not None]
        if q.client_order_id and q.venue_client_id:
            orders = [o for o in orders if o.id in api.orders_by_client_order_id(q.client_order_id)]
        orders = [o for o in orders if _matches(o, q)]
        metas = api.order_meta([o.id for o in orders])
        return json_response({"orders": [order_summary(o, metas.get(o.id)) for o in orders], "next": None})
    orders = api.daemon.store.list_orders(status=q.status, symbol=q.symbol, account=q.account, after=q.cursor,
                                          limit=q.limit)
    live = execution.ledger.live
    orders = [live.get(o.client_id, o) for o in orders]
    metas = api.order_meta([o.id for o in orders])
    next_cursor = orders[-1].id if len(orders) == q.limit else None
    return json_response({"orders": [order_summary(o, metas.get(o.id)) for o in orders], "next": next_cursor})


def _matches(order: Order, q: OrderListQuery) -> bool:
    if q.status == "open" and order.status in TERMINAL:
        return False
    if q.status and q.status != "open" and order.status.value != q.status:
        return False
    return (not q.symbol or order.symbol == q.symbol) and (not q.account or order.account == q.account)


async def cancel_order(api: "Api", ctx: Ctx) -> web.Response:
    order_id = ctx.request.match_info["id"]
    execution = api.daemon.execution
    order = execution.ledger.find_by_id(order_id)
    if order is None:
        raise not_found(f"no order {order_id!r}")
    meta = api.order_meta([order.id]).get(order.id, {})
    handle = {"id": order.id, "status": order.status.value, "client_order_id": meta.get("client_order_id")}
    if order.status is OrderStatus.CANCELED:
        return json_response(handle, 200)
    if order.status in TERMINAL:
        raise ApiError(422, "ORDER_NOT_OPEN", f"order {order.id} is {order.status.value} and cannot be canceled",
                       handle)
    api.spawn(execution.cancel(order), f"cancel {order.id}")
    log.info("cancel of %s requested by key %s", order.id, ctx.key.name if ctx.key else "?")
    return json_response({**handle, "cancel_requested": True}, 202)


# -- hummingbot-api compatibility --------------------------------------------------------------------------

def _connector_ok(api: "Api", account: str, connector: str) -> bool:
    settings = api.daemon.settings.accounts.get(account)
    if settings is None:
        return False
    names = {settings.venue, getattr(api.daemon.execution.venues[account], "exchange_id", settings.venue)}
    if settings.venue == "sim":
        names |= {"binance", "sim"}
    return connector.lower() in {n.lower() for n in names if n}


async def hummingbot_trade(api: "Api", ctx: Ctx) -> web.Response:
    req: HummingbotTradeRequest = ctx.body
    if req.account_name not in api.daemon.execution.venues:
        raise invalid(f"unknown account_name {req.account_name!r}", {"field": "account_name"})
    if not _connector_ok(api, req.account_name, req.connector_name):
        raise invalid(f"connector_name {req.connector_name!r} does not match account {req.account_name!r}",
                      {"field": "connector_name"})
    try:
        order_req = OrderRequest.model_validate({
            "symbol": req.trading_pair.replace("-", "/"), "side": req.trade_type,
            "quantity": _plain(req.amount), "order_type": req.order_type,
            "limit_price": _plain(req.price) if req.price is not None and req.order_type != "MARKET" else None,
            "account": req.account_name})
    except Exception as exc:  # a value our strict model refuses (e.g. too many decimals)
        raise invalid(f"cannot map this trade request: {exc}") from None
    result = await place(api, ctx, order_req, prefer_async=False)
    return json_response({
        "order_id": result.order.id, "account_name": req.account_name, "connector_name": req.connector_name,
        "trading_pair": req.trading_pair, "trade_type": req.trade_type, "amount": str(result.order.quantity),
        "order_type": req.order_type, "price": _plain(req.price) if req.price is not None else None,
        "status": "submitted", "order_status": result.order.status.value, "timestamp": time.time()},
        200)


def _plain(value: Decimal | None) -> str | None:
    if value is None:
        return None
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
