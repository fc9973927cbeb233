"""Read-only state routes (capabilities, positions, balances, signals, breakers) and the operator controls
(breaker reset, halt / resume, policy reload)."""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.api.core import Ctx, json_response
from bot.api.errors import ApiError, invalid, not_found
from bot.api.views import order_summary
from bot.model import Leg

if TYPE_CHECKING:
    from bot.api.server import Api

log = logging.getLogger("tradewire.api")


async def capabilities(api: "Api", ctx: Ctx) -> web.Response:
    accounts: dict[str, Any] = {}
    features: set[str] = set()
    for name, venue in api.daemon.execution.venues.items():
        caps = venue.capabilities
        names = sorted({*caps.features, *(f for f, on in (("bracket_orders", caps.bracket_orders), ("oco", caps.oco),
                                                          ("trailing_stops", caps.trailing_stops)) if on)})
        features.update(names)
        settings = api.daemon.settings.accounts.get(name)
        accounts[name] = {"venue": settings.venue if settings else getattr(venue, "exchange_id", name),
                          "features": names, "order_types": list(caps.order_types),
                          "time_in_force": list(caps.time_in_force),
                          "protection": "bracket" if caps.bracket_orders else ("oco" if caps.oco else "emulated")}
    return json_response({"features": sorted(features), "accounts": accounts})


def positions_payload(api: "Api", account: str | None = None) -> list[dict[str, Any]]:
    daemon = api.daemon
    legs_by: dict[tuple[str, str], list] = {}
    for order in list(daemon.execution.ledger.live.values()):
        if order.leg in (Leg.STOP_LOSS, Leg.TAKE_PROFIT):
            legs_by.setdefault((order.account, order.symbol), []).append(order)
    out = []
    for position in daemon.execution.positions.all():
        if account and position.account != account:
            continue
        mark = daemon.market.price(position.symbol)
        unrealized = position.unrealized(mark)
        legs = legs_by.get((position.account, position.symbol), [])
        out.append({"account": position.account, "symbol": position.symbol, "quantity": str(position.quantity),
                    "average_entry": str(position.average_entry), "realized_pnl": str(position.realized_pnl),
                    "unrealized_pnl": str(unrealized) if unrealized is not None else None,
                    "mark_price": str(mark) if mark is not None else None, "fees": str(position.fees),
                    "protection": [order_summary(o) for o in legs]})
    out.sort(key=lambda p: (p["account"], p["symbol"]))
    return out


async def positions(api: "Api", ctx: Ctx) -> web.Response:
    return json_response({"positions": positions_payload(api, ctx.query.account)})


async def balances(api: "Api", ctx: Ctx) -> web.Response:
    account = ctx.query.account
    data = {name: {asset: str(value) for asset, value in sorted(assets.items())}
            for name, assets in api.daemon.execution.balances.items() if not account or name == account}
    return json_response({"balances": data})


def signals_payload(api: "Api", source: str | None = None, status: str | None = None,
                    limit: int = 100) -> list[dict[str, Any]]:
    store = api.daemon.store
    rows = store.list_signals(source, status, limit)
    return [{"key": r["key"], "source": r["source"], "signal_id": r["signal_id"], "status": r["status"],
             "code": r.get("code"), "detail": r.get("detail"), "received_at": r.get("received_at"),
             "decided_at": r.get("decided_at"), "policy_hash": r.get("policy_hash"),
             "orders": [o.id for o in store.orders_for_signal(r["key"])]} for r in rows]


async def list_signals(api: "Api", ctx: Ctx) -> web.Response:
    q = ctx.query
    return json_response({"signals": signals_payload(api, q.source, q.status, q.limit)})


def trading_states(api: "Api") -> dict[str, str]:
    return {name: api.daemon.gate.trading_state(name) for name in api.daemon.settings.accounts}


async def breakers(api: "Api", ctx: Ctx) -> web.Response:
    return json_response({"breakers": api.daemon.gate.breakers(), "trading_states": trading_states(api)})


async def reset_breaker(api: "Api", ctx: Ctx) -> web.Response:
    name = ctx.request.match_info["name"]
    if not api.daemon.gate.reset_breaker(name):
        raise not_found(f"no breaker named {name!r}", {"breakers": [b["name"] for b in api.daemon.gate.breakers()]})
    log.warning("breaker %s reset by key %s", name, ctx.key.name if ctx.key else "?")
    breaker = next((b for b in api.daemon.gate.breakers() if b["name"] == name), {"name": name})
    return json_response(breaker)


def _check_account(api: "Api", account: str | None) -> None:
    if account is not None and account not in api.daemon.settings.accounts:
        raise invalid(f"unknown account {account!r}", {"field": "account"})


async def halt(api: "Api", ctx: Ctx) -> web.Response:
    from bot.api.models import HaltRequest
    body = ctx.body if ctx.body is not None else HaltRequest()
    _check_account(api, body.account)
    api.daemon.gate.halt(body.account)
    log.warning("HALT (flatten=%s, account=%s) by key %s from %s", body.flatten, body.account or "all",
                ctx.key.name if ctx.key else "?", ctx.ip)
    if not body.flatten:
        return json_response({"trading_states": trading_states(api), "flatten": "none", "orders": []})
    task = api.spawn(api.daemon.execution.flatten_all(), "flatten_all")
    done, _ = await asyncio.wait({task}, timeout=api.ack_timeout)
    if task in done and task.exception() is None:
        orders = [{"id": o.id, "status": o.status.value, "client_order_id": None} for o in task.result()]
        return json_response({"trading_states": trading_states(api), "flatten": "done", "orders": orders})
    return json_response({"trading_states": trading_states(api), "flatten": "in_progress", "orders": []}, 202)


async def resume(api: "Api", ctx: Ctx) -> web.Response:
    account = ctx.body.account if ctx.body is not None else None
    _check_account(api, account)
    api.daemon.gate.resume(account)
    log.warning("RESUME (account=%s) by key %s", account or "all", ctx.key.name if ctx.key else "?")
    return json_response({"trading_states": trading_states(api)})


async def reload_policy(api: "Api", ctx: Ctx) -> web.Response:
    from bot.policy import PolicyError
    try:
        digest = api.daemon.reload_policy()
    except PolicyError as exc:
        raise ApiError(422, "POLICY_INVALID", "the new policy is invalid; the previous policy stays in force",
                       {"errors": str(exc).splitlines()[:50], "hash": api.daemon.gate.loaded.hash}) from None
    return json_response({"hash": digest, "path": str(api.daemon.gate.loaded.path)})
