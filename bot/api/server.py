"""Builds the aiohttp application on the daemon's components and serves it on ``api.listen``.

``create_app(daemon, options)`` gives an ``aiohttp.web.Application`` for a started daemon (tests serve it
themselves); ``start_api(daemon)`` serves it and returns ``(runner, base_url)``. Each route is a ``RouteSpec``
(bot.api.routes) wrapped here with authentication, rate limiting and request validation; one middleware
adds ``X-Correlation-ID``, renders errors as JSON and records the request metrics by route template.
"""
from __future__ import annotations

import asyncio
import base64
import logging
import re
import sys
import time
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from bot.api.core import ApiOptions, Ctx, RouteSpec, json_response
from bot.api.errors import ApiError, validation_details
from bot.api.idempotency import Idempotency
from bot.api.keys import SCOPES, ApiKey, KeyStore
from bot.api.ratelimit import RateLimiter
from bot.api.stream import StreamHub
from bot.api.webhooks import Outbox

log = logging.getLogger("tradewire.api")

API_KEY = web.AppKey("tradewire_api", object)
CORRELATION_ID = web.RequestKey("correlation_id", str)
RATE_LIMIT = web.RequestKey("ratelimit", object)
_CORRELATION = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")
_HTTP_CODES = {400: "INVALID_REQUEST", 401: "UNAUTHENTICATED", 403: "FORBIDDEN", 404: "NOT_FOUND",
               405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE"}
DEMO_KEY_NAME = "demo"


class Api:
    """The API component: its state (keys, idempotency, rate limits, outbox, stream) around the daemon."""

    def __init__(self, daemon: Any, options: ApiOptions | None = None):
        self.daemon = daemon
        self.options = options or ApiOptions()
        self.conn = daemon.store.conn
        self.keys = KeyStore(self.conn)
        self.idempotency = Idempotency(self.conn)
        self.limiter = RateLimiter()
        self.outbox = Outbox(self.conn, self.keys, self.options, getattr(daemon, "metrics", None))
        self.stream: StreamHub | None = None
        self.specs: list[RouteSpec] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._secrets: dict[str, str | None] = {}
        self._unsubscribe: Any = None

    @property
    def ack_timeout(self) -> float:
        if self.options.ack_timeout is not None:
            return self.options.ack_timeout
        return float(self.daemon.settings.api.ack_timeout)

    # -- helpers for handlers -----------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("%s failed: %r", name, t.exception())

        task.add_done_callback(done)
        return task

    def presented_key(self, request: web.Request, *, allow_query: bool = False) -> str | None:
        auth = request.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            return auth[7:].strip()
        if "X-API-Key" in request.headers:
            return request.headers["X-API-Key"].strip()
        if allow_query:
            return request.query.get("key")
        return None

    def authenticate(self, request: web.Request, *, allow_query: bool = False) -> ApiKey | None:
        return self.keys.authenticate(self.presented_key(request, allow_query=allow_query))

    def record_order(self, order_id: str, key_name: str, client_order_id: str | None, callback_url: str | None,
                     digest: str) -> None:
        self.conn.execute("INSERT OR IGNORE INTO api_orders (order_id, key_name, client_order_id, callback_url,"
                          " request_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                          (order_id, key_name, client_order_id, callback_url, digest, time.time()))
        self.outbox.register(order_id, key_name, callback_url)

    def order_meta(self, order_ids: list[str]) -> dict[str, dict[str, Any]]:
        if not order_ids:
            return {}
        marks = ", ".join("?" * len(order_ids))
        rows = self.conn.execute(f"SELECT order_id, key_name, client_order_id, callback_url FROM api_orders"
                                 f" WHERE order_id IN ({marks})", order_ids).fetchall()
        return {r[0]: {"key_name": r[1], "client_order_id": r[2], "callback_url": r[3]} for r in rows}

    def orders_by_client_order_id(self, client_order_id: str | None, prefer: str | None = None) -> list[str]:
        rows = self.conn.execute("SELECT order_id, key_name FROM api_orders WHERE client_order_id = ?"
                                 " ORDER BY created_at DESC", (client_order_id,)).fetchall()
        mine = [r[0] for r in rows if r[1] == prefer]
        return mine or [r[0] for r in rows]

    def source_secret(self, name: str, spec: Any) -> str | None:
        if name not in self._secrets:
            from bot.api.signals_in import resolve_secret
            from bot.settings import ConfigError
            try:
                self._secrets[name] = resolve_secret(spec)
            except ConfigError as exc:
                log.error("webhook source %s: %s", name, exc)
                raise ApiError(503, "SOURCE_UNAVAILABLE", f"source {name} is misconfigured (its secret cannot be"
                               " read)") from None
        return self._secrets[name]

    # -- demo key -----------------------------------------------------------------------------------------

    def ensure_demo_key(self) -> str:
        """The demo key (all scopes): reused from ``<state_dir>/demo-api-key`` while it still authenticates,
        else created (and written there, mode 0600). The database holds only its hash."""
        path = Path(self.daemon.settings.state_dir) / "demo-api-key"
        try:
            saved = path.read_text().strip()
        except OSError:
            saved = ""
        key = self.keys.authenticate(saved) if saved else None
        if key is not None and key.name == DEMO_KEY_NAME and key.scopes == frozenset(SCOPES):
            return saved
        _, secret = self.keys.create(DEMO_KEY_NAME, frozenset(SCOPES), replace=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secret + "\n")
        path.chmod(0o600)
        return secret

    # -- lifecycle ----------------------------------------------------------------------------------------

    async def on_startup(self, app: web.Application) -> None:
        self.stream = StreamHub(self.daemon.bus, self.options.stream_queue)
        self._unsubscribe = self.daemon.bus.subscribe(self.outbox.on_event)
        self.outbox.start()

    async def on_shutdown(self, app: web.Application) -> None:
        if self.stream is not None:
            self.stream.close()
            await self.stream.shutdown()

    async def on_cleanup(self, app: web.Application) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        await self.outbox.stop()

    # -- request handling ---------------------------------------------------------------------------------

    def wrap(self, spec: RouteSpec):
        async def handle(request: web.Request) -> web.StreamResponse:
            ctx = Ctx(request, request[CORRELATION_ID], request.remote or "")
            if spec.scope in SCOPES:
                ctx.key = self._key_auth(request, spec)
            elif spec.scope == "basic":
                ctx.key = self._basic_auth(request)
            elif spec.rate_limited:
                self._limit_ip(request, ctx.ip)
            if spec.query is not None:
                repeated = sorted({k for k in request.query if len(request.query.getall(k)) > 1})
                if repeated:
                    raise ApiError(400, "INVALID_REQUEST", "query parameters may be given once each",
                                   [{"field": k, "message": "repeated"} for k in repeated])
                try:
                    ctx.query = spec.query.model_validate(dict(request.query))
                except ValidationError as exc:
                    raise ApiError(400, "INVALID_REQUEST", "invalid query parameters",
                                   validation_details(exc)) from None
            if spec.body is not None or spec.body_schema is not None:
                ctx.raw_body = await request.read()
                self._check_media(request, spec, ctx.raw_body)
                if spec.body is not None:
                    if not ctx.raw_body.strip() and spec.body_optional:
                        ctx.body = None
                    else:
                        try:
                            ctx.body = spec.body.model_validate_json(ctx.raw_body or b"")
                        except ValidationError as exc:
                            raise ApiError(400, "INVALID_REQUEST", "invalid request body",
                                           validation_details(exc)) from None
            return await spec.handler(self, ctx)

        handle.__name__ = spec.operation_id
        return handle

    def _check_media(self, request: web.Request, spec: RouteSpec, raw: bytes) -> None:
        if not raw and spec.body_optional:
            return
        media = request.content_type or "application/octet-stream"
        if media in spec.body_media or (media.endswith("+json") and "application/json" in spec.body_media):
            return
        if media == "application/octet-stream" and not request.headers.get("Content-Type"):
            return                                # no Content-Type at all: read the body as JSON anyway
        raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", f"send the body as {' or '.join(spec.body_media)}",
                       {"content_type": media})

    def _key_auth(self, request: web.Request, spec: RouteSpec) -> ApiKey:
        key = self.authenticate(request, allow_query=spec.path in ("/v1/stream",))
        if key is None:
            self._limit_ip(request, request.remote or "")
            raise ApiError(401, "UNAUTHENTICATED", "a valid API key is required (Authorization: Bearer <key> or "
                           "X-API-Key: <key>)", headers={"WWW-Authenticate": 'Bearer realm="tradewire"'})
        self._limit(request, f"key:{key.name}", key.rate_limit, key.rate_window)
        assert spec.scope is not None
        if not key.allows(spec.scope):
            raise ApiError(403, "FORBIDDEN", f"this API key lacks the {spec.scope!r} scope",
                           {"required_scope": spec.scope, "key_scopes": sorted(key.scopes)})
        return key

    def _basic_auth(self, request: web.Request) -> ApiKey:
        auth = request.headers.get("Authorization", "")
        key = None
        if auth[:6].lower() == "basic ":
            try:
                name, _, secret = base64.b64decode(auth[6:].strip(), validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                name, secret = "", ""
            key = self.keys.authenticate(secret)
            if key is not None and key.name != name:
                key = None
        if key is None:
            key = self.authenticate(request)          # a Bearer / X-API-Key works here too
        if key is None:
            self._limit_ip(request, request.remote or "")
            raise ApiError(401, "UNAUTHENTICATED", "HTTP Basic with API key name and key is required",
                           headers={"WWW-Authenticate": 'Basic realm="tradewire"'})
        self._limit(request, f"key:{key.name}", key.rate_limit, key.rate_window)
        if not key.allows("trade"):
            raise ApiError(403, "FORBIDDEN", "this API key lacks the 'trade' scope", {"required_scope": "trade"})
        return key

    def _limit_ip(self, request: web.Request, ip: str) -> None:
        self._limit(request, f"ip:{ip}", self.options.ip_rate_limit, self.options.ip_rate_window)

    def _limit(self, request: web.Request, bucket: str, limit: int, window: float) -> None:
        verdict = self.limiter.hit(bucket, limit, window)
        request[RATE_LIMIT] = verdict
        if not verdict.allowed:
            raise ApiError(429, "RATE_LIMITED", f"rate limit of {limit} requests per {window:g} s exceeded",
                           {"limit": limit, "window_seconds": window, "retry_after": verdict.headers()["Retry-After"]})


def _route_label(request: web.Request) -> str:
    route = request.match_info.route
    resource = route.resource if route is not None else None
    if resource is None:
        return "unmatched"
    return resource.canonical


def middleware(api: Api):
    metrics = getattr(api.daemon, "metrics", None)

    @web.middleware
    async def outer(request: web.Request, handler: Any) -> web.StreamResponse:
        started = time.perf_counter()
        given = request.headers.get("X-Correlation-ID", "")
        correlation = given if _CORRELATION.match(given) else uuid.uuid4().hex
        request[CORRELATION_ID] = correlation
        try:
            response = await handler(request)
        except ApiError as exc:
            response = json_response(exc.body(correlation), exc.status, exc.headers)
        except web.HTTPException as exc:
            code = _HTTP_CODES.get(exc.status, "INVALID_REQUEST" if exc.status < 500 else "INTERNAL_ERROR")
            message = exc.reason if exc.status != 404 else "no such route"
            headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "location")}
            response = json_response({"code": code, "message": message, "details": None,
                                      "correlation_id": correlation}, exc.status, headers)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("API %s %s failed (correlation id %s)", request.method, request.path, correlation)
            response = json_response({"code": "INTERNAL_ERROR", "message": "internal error", "details": None,
                                      "correlation_id": correlation}, 500)
        if not response.prepared:
            response.headers["X-Correlation-ID"] = correlation
            verdict = request.get(RATE_LIMIT)
            if verdict is not None:
                response.headers.update(verdict.headers())
        if metrics is not None:
            route = _route_label(request)
            status = response.status if not isinstance(response, web.WebSocketResponse) else 101
            metrics.api_requests.labels(method=request.method if request.method in _METHODS else "OTHER",
                                        route=route, status=str(status)).inc()
            metrics.api_request_duration.labels(route=route).observe(time.perf_counter() - started)
        return response

    return outer


_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}


def create_app(daemon: Any, options: ApiOptions | None = None) -> web.Application:
    """The API application for a started daemon (``daemon.store``, ``execution``, ``gate``, ``pipeline``...)."""
    from bot.api.routes import build_routes

    options = options or daemon.api_options or ApiOptions()
    api = Api(daemon, options)
    app = web.Application(middlewares=[middleware(api)], client_max_size=options.max_body)
    app[API_KEY] = api
    api.specs = build_routes()
    for spec in api.specs:
        app.router.add_route(spec.method, spec.path, api.wrap(spec), name=spec.operation_id)
    app.on_startup.append(api.on_startup)
    app.on_shutdown.append(api.on_shutdown)
    app.on_cleanup.append(api.on_cleanup)
    return app


def api_of(app: web.Application) -> Api:
    return app[API_KEY]  # type: ignore[return-value]


async def start_api(daemon: Any) -> tuple[web.AppRunner, str]:
    host, port = daemon.settings.api.host_port
    app = create_app(daemon)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1] if site._server and site._server.sockets else port
    url = f"http://{host}:{bound}"
    if daemon.settings.api.demo_key:
        secret = api_of(app).ensure_demo_key()
        daemon.demo_key = secret
        # On stdout only (the terminal of `make run`), never in the log stream that ends up in the journal.
        print(f"demo API key: {secret}", file=sys.stdout, flush=True)
        log.info("demo API key (scopes %s) printed on stdout and written to %s", ",".join(SCOPES),
                 Path(daemon.settings.state_dir) / "demo-api-key")
    return runner, url
