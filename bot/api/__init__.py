"""The HTTP API (SPEC §7): an aiohttp application on the daemon's components — orders (idempotent, 201/202,
through the same policy and execution path as signals), lookups and listings, cancels, capabilities,
positions, balances, signals (webhook intake incl. TradingView), breakers, the kill switch, policy reload,
an event stream over websocket, signed outbound webhooks from a durable outbox, health, readiness, metrics,
an OpenAPI 3.1 description generated from the request models, a docs page and a status page. Auth is by API
key (``tradewire keys ...``) with scopes read / trade / signal / admin and per-key rate limits.

Public interface: ``start_api(daemon) -> (AppRunner, base_url)``, ``create_app(daemon, options)``,
``ApiOptions``, and ``bot.api.cli.register(subparsers)`` for the ``keys`` commands.
"""
from bot.api.core import ApiOptions
from bot.api.server import create_app, start_api

__all__ = ["ApiOptions", "create_app", "start_api"]
