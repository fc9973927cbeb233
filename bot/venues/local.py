"""ccxt constructor overrides that point an exchange class at a local Binance-wire server.

Every host inside ``describe()['urls']['api']`` is rewritten to the local address, keeping each path, so a
forgotten endpoint hits loopback (and 404s) rather than a real exchange. This is the only simulator-specific
part of the venue: the same ``CcxtVenue`` runs against a real exchange id when no URL is given.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit


def _rewrite(value: Any, http_base: str, ws_base: str) -> Any:
    if isinstance(value, dict):
        return {key: _rewrite(item, http_base, ws_base) for key, item in value.items()}
    if isinstance(value, str) and "://" in value:
        parts = urlsplit(value)
        base = ws_base if parts.scheme in ("ws", "wss") else http_base
        target = urlsplit(base)
        return urlunsplit((target.scheme, target.netloc, parts.path, parts.query, parts.fragment))
    return value


def local_overrides(exchange_class: type, http_base: str) -> dict[str, Any]:
    """Constructor config (``urls`` and ``options``) for ``exchange_class`` served at ``http_base``.

    ``http_base`` is like ``http://127.0.0.1:8765``; websockets use the same host and port.
    The options make ``load_markets`` a single ``GET /api/v3/exchangeInfo`` call (spot only).
    """
    ws_base = "ws" + http_base[len("http"):]
    api_urls = exchange_class().describe()["urls"]["api"]
    return {
        "urls": {"api": _rewrite(api_urls, http_base, ws_base)},
        "options": {
            "defaultType": "spot",
            "fetchMarkets": {"types": ["spot"]},
            "fetchCurrencies": False,
            "fetchMargins": False,
        },
    }
