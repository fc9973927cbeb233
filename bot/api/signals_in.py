"""Webhook signal intake (SPEC §4.3): ``POST /v1/signals`` (native JSON, key with scope ``signal``) and
``POST /v1/signals/{source}`` for configured webhook sources. A ``tradingview`` source authenticates by the
``secret`` field in the body (constant-time compare) and an optional IP allow-list; the body may be
``text/plain``. 202 once the signal is persisted (and, normally, decided), 200 with the original result for
a duplicate, 4xx for auth or schema errors; the answer comes within ``signal_timeout`` (< 3 s) regardless."""
from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import re
import time
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from bot.api.core import Ctx, json_response
from bot.api.errors import ApiError, not_found
from bot.obs.logging import register_secret

if TYPE_CHECKING:
    from bot.api.server import Api

log = logging.getLogger("tradewire.api.signals")
_SOURCE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_OUTCOME = {"ACCEPTED": "accepted", "REJECTED": "rejected", "INVALID": "invalid", "DUPLICATE": "duplicate"}


def _parse(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


async def _submit(api: "Api", payload: Any, source: str, fmt: str, mapping: dict | None,
                  counted_as: str) -> web.Response:
    pipeline = api.daemon.pipeline
    received = time.perf_counter()
    task = api.spawn(pipeline.submit_payload(payload, source, fmt, mapping, received), f"signal from {source}")
    done, _ = await asyncio.wait({task}, timeout=api.options.signal_timeout)
    if task not in done:
        signal_id = payload.get("id") if isinstance(payload, dict) else None
        return json_response({"key": f"{source}:{signal_id}" if signal_id else None, "status": "RECEIVED",
                              "code": None, "detail": "accepted for processing", "orders": []}, 202)
    if task.exception() is not None:
        raise ApiError(500, "INTERNAL_ERROR", "the signal could not be processed")
    result = task.result()
    api.daemon.metrics.signal(counted_as, _OUTCOME.get(result.status, "error"))
    if result.status == "INVALID":
        raise ApiError(400, "INVALID_REQUEST", f"invalid signal: {result.detail}",
                       {"signal_code": result.code, "key": result.key, "reason": result.detail})
    if result.status == "DUPLICATE":
        original = api.daemon.store.get_signal(result.key) or {}
        if original.get("status") == "INVALID":
            raise ApiError(400, "INVALID_REQUEST", f"invalid signal: {original.get('detail')}",
                           {"signal_code": original.get("code"), "key": result.key, "duplicate": True})
        return json_response({"key": result.key, "status": original.get("status", "RECEIVED"),
                              "code": original.get("code"), "detail": original.get("detail"),
                              "orders": [o.id for o in api.daemon.store.orders_for_signal(result.key)],
                              "duplicate": True}, 200)
    return json_response({**result.as_dict(), "duplicate": False}, 202)


async def post_signal(api: "Api", ctx: Ctx) -> web.Response:
    payload = _parse(ctx.raw_body)
    source = ctx.key.name if ctx.key else "api"
    if isinstance(payload, dict) and isinstance(payload.get("source"), str):
        source = payload["source"]
    if not _SOURCE.match(source):
        raise ApiError(400, "INVALID_REQUEST", "source must be 1-64 characters of letters, digits, '_', '.', '-'",
                       {"field": "source"})
    counted = source if api.daemon.settings.source(source) is not None else "api"
    text = payload if payload is not None else ctx.raw_body.decode("utf-8", "replace")
    return await _submit(api, text, source, "native", None, counted)


def _ip_allowed(ip: str, allow: list[str]) -> bool:
    if not allow:
        return True
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for entry in allow:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


async def post_source_signal(api: "Api", ctx: Ctx) -> web.Response:
    name = ctx.request.match_info["source"]
    spec = api.daemon.settings.source(name)
    if spec is None or spec.kind != "webhook":
        raise not_found(f"no webhook source named {name!r}")
    if not _ip_allowed(ctx.ip, spec.allow_ips):
        log.warning("webhook source %s: request from %s is not in allow_ips", name, ctx.ip)
        raise ApiError(403, "FORBIDDEN", "this address may not post to this source")
    payload = _parse(ctx.raw_body)
    secret = api.source_secret(name, spec)
    if secret is not None:
        given = payload.get("secret") if isinstance(payload, dict) else None
        if given is None:
            given = ctx.request.headers.get("X-Webhook-Secret")
        if not isinstance(given, str) or not hmac.compare_digest(given.encode(), secret.encode()):
            log.warning("webhook source %s: bad or missing secret from %s", name, ctx.ip)
            raise ApiError(401, "UNAUTHENTICATED", "missing or wrong secret for this source")
    else:
        key = api.authenticate(ctx.request)
        if key is None:
            raise ApiError(401, "UNAUTHENTICATED", "this source has no secret configured: send an API key",
                           headers={"WWW-Authenticate": 'Bearer realm="tradewire"'})
        if not key.allows("signal"):
            raise ApiError(403, "FORBIDDEN", "this API key lacks the 'signal' scope", {"required_scope": "signal"})
    if isinstance(payload, dict):
        payload = {k: v for k, v in payload.items() if k != "secret"}
        body: Any = payload
    else:
        body = ctx.raw_body.decode("utf-8", "replace")
    return await _submit(api, body, name, spec.format, spec.mapping or None, name)


def resolve_secret(spec: Any) -> str | None:
    if spec.secret is None:
        return None
    value = spec.secret.resolve()
    register_secret(value)
    return value
