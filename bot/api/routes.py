"""The route table: every operation of the API as a ``RouteSpec``. The server serves exactly these, and
``/openapi.json`` and ``/docs`` describe exactly these."""
from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from bot.api import models as m
from bot.api import orders, pages, signals_in, state, stream
from bot.api.core import Ctx, RouteSpec, json_response
from bot.api.errors import ApiError, not_found
from bot.model import Signal

if TYPE_CHECKING:
    from bot.api.server import Api

IDEMPOTENCY_HEADER = ("Idempotency-Key", "idempotency key (alternative or addition to client_order_id)",
                      {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"})
PREFER_HEADER = ("Prefer", "`respond-async`: answer 202 as soon as the order is persisted",
                 {"type": "string", "enum": ["respond-async"]})


# -- small handlers ----------------------------------------------------------------------------------------

async def healthz(api: "Api", ctx: Ctx) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(api: "Api", ctx: Ctx) -> web.Response:
    ready = bool(api.daemon.ready)
    return json_response({"ready": ready}, 200 if ready else 503)


async def metrics(api: "Api", ctx: Ctx) -> web.Response:
    return web.Response(body=api.daemon.metrics.render(), headers={"Content-Type": api.daemon.metrics.content_type})


async def dead_letters(api: "Api", ctx: Ctx) -> web.Response:
    assert ctx.key is not None
    owner = None if ctx.key.allows("admin") else ctx.key.name
    return json_response({"dead_letters": api.outbox.dead_letters(owner)})


async def retry_dead_letter(api: "Api", ctx: Ctx) -> web.Response:
    assert ctx.key is not None
    msg_id = ctx.request.match_info["id"]
    owner = None if ctx.key.allows("admin") else ctx.key.name
    if not api.outbox.retry(msg_id, owner):
        raise not_found(f"no dead letter {msg_id!r}")
    return json_response({"id": msg_id, "status": "pending"}, 202)


async def webhook_secret(api: "Api", ctx: Ctx) -> web.Response:
    assert ctx.key is not None
    return json_response({"key_name": ctx.key.name, "secret": ctx.key.webhook_secret, "url": ctx.key.webhook_url})


async def openapi(api: "Api", ctx: Ctx) -> web.Response:
    from bot.api.openapi import document
    return json_response(document(api.specs))


async def stream_route(api: "Api", ctx: Ctx) -> web.StreamResponse:
    if not web.WebSocketResponse().can_prepare(ctx.request).ok:
        raise ApiError(400, "INVALID_REQUEST", "this endpoint is a websocket: send an Upgrade request")
    return await stream.stream(api, ctx)


# -- the table ---------------------------------------------------------------------------------------------

def build_routes() -> list[RouteSpec]:
    handle = {201: ("the venue acknowledged the order (status OPEN, PARTIALLY_FILLED, FILLED or EXPIRED)",
                    m.OrderHandle),
              200: ("replay: an order with this idempotency key and body exists", m.OrderHandle),
              202: ("persisted, not yet acknowledged (Prefer: respond-async, or the venue did not answer within "
                    "the ack timeout); status PENDING", m.OrderHandle),
              409: ("IDEMPOTENCY_CONFLICT: this key was used with another body", m.ErrorBody),
              422: ("POLICY_REJECTED (policy code in details), INSUFFICIENT_BALANCE, INVALID_QUANTITY, "
                    "INVALID_PRICE, SYMBOL_NOT_TRADEABLE, ORDER_TYPE_NOT_SUPPORTED, ...", m.ErrorBody),
              503: ("VENUE_UNAVAILABLE", m.ErrorBody)}
    order_create_doc = ("Places an order through the risk policy and execution path. 201 once the venue "
                        "acknowledged it, 202 with status PENDING when `Prefer: respond-async` was sent or the venue "
                        "did not answer within the ack timeout. The same `client_order_id` (or `Idempotency-Key`) "
                        "with the same body returns the existing order (200); with a different body 409.")
    signal_result = {202: ("persisted and decided (status ACCEPTED or REJECTED), or RECEIVED when the decision "
                           "takes longer than the answer deadline", m.SignalResultView),
                     200: ("duplicate: the original result", m.SignalResultView)}
    specs = [
        RouteSpec("POST", "/v1/orders", orders.create_order, "createOrder", "Place an order", "trade",
                  body=m.OrderRequest, responses=handle, tags=("orders",), description=order_create_doc,
                  headers=(IDEMPOTENCY_HEADER, PREFER_HEADER)),
        RouteSpec("POST", "/api/v1/orders", orders.create_order, "createOrderAlias", "Place an order (alias)",
                  "trade", body=m.OrderRequest, responses=handle, tags=("orders",),
                  description="Alias of `POST /v1/orders`.", headers=(IDEMPOTENCY_HEADER, PREFER_HEADER)),
        RouteSpec("GET", "/v1/orders", orders.list_orders, "listOrders", "Find or list orders", "read",
                  query=m.OrderListQuery, responses={200: ("orders, newest first; `next` is the cursor of the next "
                                                          "page", m.OrderList)}, tags=("orders",),
                  description="`?client_order_id=X` or `?venue_client_id=X` look one order up; otherwise lists "
                              "(filters `status` (`open` = not final), `symbol`, `account`), paginated by `cursor`."),
        RouteSpec("GET", "/v1/orders/{id}", orders.get_order, "getOrder", "One order in full", "read",
                  responses={200: ("the order with fills, protective legs, events and origin", m.OrderDetail),
                             404: ("no such order", m.ErrorBody)}, tags=("orders",)),
        RouteSpec("DELETE", "/v1/orders/{id}", orders.cancel_order, "cancelOrder", "Cancel an order", "trade",
                  responses={202: ("cancel requested; the order turns CANCELED when the venue confirms",
                                   m.OrderHandle),
                             200: ("already canceled", m.OrderHandle),
                             404: ("no such order", m.ErrorBody),
                             422: ("ORDER_NOT_OPEN: the order is already final", m.ErrorBody)}, tags=("orders",)),
        RouteSpec("GET", "/v1/capabilities", state.capabilities, "getCapabilities", "Venue capabilities", "read",
                  responses={200: ("features per account (bracket_orders, oco, trailing_stops), order types, "
                                   "time in force", m.CapabilitiesView)}, tags=("state",)),
        RouteSpec("GET", "/v1/positions", state.positions, "listPositions", "Positions", "read",
                  query=m.AccountQuery, responses={200: ("per account and symbol", m.PositionList)},
                  tags=("state",)),
        RouteSpec("GET", "/v1/balances", state.balances, "listBalances", "Balances", "read", query=m.AccountQuery,
                  responses={200: ("free balance per account and asset", m.BalanceList)}, tags=("state",)),
        RouteSpec("GET", "/v1/signals", state.list_signals, "listSignals", "Recent signals and decisions", "read",
                  query=m.SignalListQuery, responses={200: ("newest first", m.SignalList)}, tags=("signals",)),
        RouteSpec("POST", "/v1/signals", signals_in.post_signal, "postSignal", "Send a native signal", "signal",
                  body_schema={"model": Signal}, responses=signal_result, tags=("signals",),
                  description="A native signal (SPEC §4.1). Its `source` defaults to the API key's name. Invalid "
                              "signals are recorded and answered 400 with the reason."),
        RouteSpec("POST", "/v1/signals/{source}", signals_in.post_source_signal, "postSourceSignal",
                  "Webhook signal for a configured source", "webhook",
                  body_schema={"schema": {"type": "object"}, "text": True},
                  body_media=("application/json", "text/plain"), responses={
                      **signal_result, 401: ("missing or wrong secret / API key", m.ErrorBody),
                      403: ("sender address not in allow_ips", m.ErrorBody),
                      404: ("no webhook source of that name", m.ErrorBody)}, tags=("signals",),
                  description="For sources with `kind: webhook`. A source with a `secret` authenticates by the "
                              "`secret` field of the JSON body (TradingView cannot send headers); the body may "
                              "come as text/plain. Without a secret, an API key with scope `signal` is required."),
        RouteSpec("GET", "/v1/breakers", state.breakers, "listBreakers", "Circuit breakers and trading states",
                  "read", responses={200: ("breakers", m.BreakerList)}, tags=("control",)),
        RouteSpec("POST", "/v1/breakers/{name}/reset", state.reset_breaker, "resetBreaker", "Reset a breaker",
                  "admin", responses={200: ("the breaker, now CLOSED", m.BreakerView),
                                      404: ("no such breaker", m.ErrorBody)}, tags=("control",)),
        RouteSpec("POST", "/v1/halt", state.halt, "halt", "Kill switch", "admin", body=m.HaltRequest,
                  body_optional=True, responses={200: ("halted", m.HaltResult),
                                                 202: ("halted; flattening still in progress", m.HaltResult)},
                  tags=("control",), description="Halts trading (no new entries). With `flatten: true` also "
                  "cancels every open order and closes every position with market orders."),
        RouteSpec("POST", "/v1/resume", state.resume, "resume", "Resume trading", "admin", body=m.ResumeRequest,
                  body_optional=True, responses={200: ("trading states", m.TradingStateView)}, tags=("control",)),
        RouteSpec("POST", "/v1/policy/reload", state.reload_policy, "reloadPolicy", "Reload the risk policy",
                  "admin", responses={200: ("the new policy is in force", m.PolicyReloadResult),
                                      422: ("POLICY_INVALID: refused; the previous policy stays", m.ErrorBody)},
                  tags=("control",)),
        RouteSpec("GET", "/v1/webhooks/dead-letters", dead_letters, "listDeadLetters", "Undeliverable webhooks",
                  "read", responses={200: ("your dead letters (all of them for admin keys)", m.DeadLetterList)},
                  tags=("webhooks",)),
        RouteSpec("POST", "/v1/webhooks/dead-letters/{id}/retry", retry_dead_letter, "retryDeadLetter",
                  "Deliver a dead letter again", "trade",
                  responses={202: ("queued for delivery", m.WebhookRetry), 404: ("no such dead letter", m.ErrorBody)},
                  tags=("webhooks",)),
        RouteSpec("GET", "/v1/webhooks/secret", webhook_secret, "getWebhookSecret", "Your webhook signing secret",
                  "read", responses={200: ("the whsec_ secret that signs this key's webhooks", m.WebhookSecret)},
                  tags=("webhooks",)),
        RouteSpec("GET", "/v1/stream", stream_route, "stream", "Event stream (websocket)", "read",
                  query=m.StreamQuery, responses={101: ("switching to the websocket protocol", None),
                                                  400: ("not a websocket upgrade", m.ErrorBody)}, tags=("stream",),
                  description="Websocket. Events: order.updated, fill, position.updated, signal.decided, "
                              "breaker.changed, trading_state.changed, error (e.g. code POSITION_UNPROTECTED), "
                              "position.flattened. Send `{\"subscribe\": [types]}` to filter. The key may be given "
                              "as `?key=` (browsers). A client that falls behind is closed with code 4008."),
        RouteSpec("POST", "/trading/orders", orders.hummingbot_trade, "hummingbotPlaceTrade",
                  "hummingbot-api compatible order", "basic", body=m.HummingbotTradeRequest,
                  responses={200: ("submitted", m.HummingbotTradeResponse),
                             422: ("rejected by the policy or the venue", m.ErrorBody),
                             503: ("VENUE_UNAVAILABLE", m.ErrorBody)}, tags=("compatibility",),
                  description="The hummingbot-api `POST /trading/orders` request. HTTP Basic: API key name as user, "
                              "the key as password. `trading_pair` BTC-USDT maps to BTC/USDT."),
        RouteSpec("GET", "/healthz", healthz, "healthz", "Liveness", None, responses={200: ("alive", m.Health)},
                  tags=("operations",), rate_limited=False),
        RouteSpec("GET", "/readyz", readyz, "readyz", "Readiness", None,
                  responses={200: ("ready: venues connected, reconciliation done", m.Readiness),
                             503: ("not ready yet", m.Readiness)}, tags=("operations",), rate_limited=False),
        RouteSpec("GET", "/metrics", metrics, "metrics", "Prometheus metrics", None,
                  responses={200: ("text exposition format", "text/plain")}, tags=("operations",),
                  rate_limited=False),
        RouteSpec("GET", "/openapi.json", openapi, "openapi", "This description (OpenAPI 3.1)", None,
                  responses={200: ("OpenAPI 3.1 document", {"type": "object"})}, tags=("operations",)),
        RouteSpec("GET", "/docs", pages.docs_page, "docs", "Human-readable API reference", None,
                  responses={200: ("HTML", "text/html")}, tags=("operations",)),
        RouteSpec("GET", "/", pages.status_page, "statusPage", "Status page", None, query=m.StatusPageQuery,
                  responses={200: ("HTML: trading state, breakers, positions, recent signals and orders, live",
                                   "text/html")}, tags=("operations",)),
    ]
    return specs
