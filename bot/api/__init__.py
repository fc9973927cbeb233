"""The HTTP API (SPEC §7): aiohttp routes for orders, positions, signals, breakers, the kill switch,
policy reload, the event stream, health and metrics."""
from bot.api.server import start_api

__all__ = ["start_api"]
