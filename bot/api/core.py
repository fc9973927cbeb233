"""The pieces every handler module shares: options, the route table (one ``RouteSpec`` per operation, used
both to serve and to describe the API), the per-request context, and JSON rendering."""
from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel

from bot.api.keys import ApiKey


@dataclass
class ApiOptions:
    """Tunables of the API component. The daemon's settings give ``listen`` and ``ack_timeout``; the rest have
    defaults here (tests set ``daemon.api_options`` before ``daemon.start()``)."""

    stream_queue: int = 1000                 # events buffered per websocket client before it is dropped
    webhook_max_attempts: int = 8            # deliveries per message before it is dead-lettered
    webhook_backoff: float = 2.0             # seconds before the 2nd attempt; doubles each time (with jitter)
    webhook_max_backoff: float = 600.0
    webhook_timeout: float = 5.0             # seconds per delivery attempt
    webhook_concurrency: int = 8
    webhook_retention: float = 7 * 86400.0   # seconds a delivered message stays in the outbox
    ip_rate_limit: int = 600                 # requests per window from one IP without a valid key
    ip_rate_window: float = 10.0
    max_body: int = 256 * 1024
    signal_timeout: float = 2.5              # webhook signals answer within 3 s (SPEC §4.3)
    ack_timeout: float | None = None         # overrides settings.api.ack_timeout when set


Scope = str | None


@dataclass
class RouteSpec:
    method: str
    path: str
    handler: Callable[..., Awaitable[web.StreamResponse]]
    operation_id: str
    summary: str
    scope: Scope = "read"                    # None: public; "basic": HTTP Basic with an API key; "webhook": own auth
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    responses: dict[int, tuple[str, Any]] = field(default_factory=dict)  # status → (description, model|schema)
    tags: tuple[str, ...] = ()
    description: str = ""
    body_optional: bool = False
    body_media: tuple[str, ...] = ("application/json",)
    body_schema: dict[str, Any] | None = None   # when the body is validated by a model outside this package
    headers: tuple[tuple[str, str, dict], ...] = ()  # (name, description, schema) request headers
    rate_limited: bool = True


@dataclass
class Ctx:
    """What the wrapper established before the handler runs."""

    request: web.Request
    correlation_id: str
    ip: str
    key: ApiKey | None = None
    body: Any = None
    query: Any = None
    raw_body: bytes = b""


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(data: Any) -> bytes:
    return orjson.dumps(data, default=_default)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=dumps(data), status=status, content_type="application/json", headers=headers)
