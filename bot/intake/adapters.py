"""Provider formats → native ``Signal`` (SPEC §4.1, §4.2 adapters)."""
from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from bot.model import Signal


class SignalError(Exception):
    """A payload that is not a usable signal. ``code``: INVALID_JSON, INVALID_SIGNAL or UNAUTHENTICATED."""

    def __init__(self, code: str, message: str, signal_id: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.signal_id = signal_id


def _load(payload: str | bytes | dict[str, Any]) -> dict[str, Any]:
    if isinstance(payload, dict):
        return payload
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SignalError("INVALID_JSON", f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SignalError("INVALID_SIGNAL", "a signal must be a JSON object")
    return data


def _validate(data: dict[str, Any]) -> Signal:
    try:
        return Signal.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'signal'}: "
            f"{'unknown field' if e['type'] == 'extra_forbidden' else e['msg']}" for e in exc.errors())
        raise SignalError("INVALID_SIGNAL", problems, str(data.get("id")) if data.get("id") else None) from None


def parse_native(payload: str | bytes | dict[str, Any], source: str) -> Signal:
    data = dict(_load(payload))
    data.setdefault("source", source)
    if data["source"] != source:
        # A stream may relay other providers' ids, but (source, id) must stay ours to deduplicate.
        meta = data.get("meta") or {}
        if isinstance(meta, dict):          # anything else is refused by validation below
            data["meta"] = {**meta, "origin_source": data["source"]}
        data["source"] = source
    return _validate(data)


def _path(data: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def parse_mapping(payload: str | bytes | dict[str, Any], source: str, mapping: dict[str, str]) -> Signal:
    """``mapping`` maps native field names to dotted paths in the provider's JSON (``{"id": "data.uuid"}``).

    Constant values are given as ``=value`` (``{"action": "=open"}``).
    """
    data = _load(payload)
    native: dict[str, Any] = {"source": source}
    for field, path in mapping.items():
        value = path[1:] if path.startswith("=") else _path(data, path)
        if value is not None:
            native[field] = value
    if isinstance(native.get("side"), str):
        native["side"] = native["side"].lower()
    return _validate(native)


def parse_tradingview(payload: str | bytes | dict[str, Any], source: str) -> Signal:
    """TradingView alerts: the alert message is JSON written by the user, with ``secret`` in the body (checked
    by the caller). Accepts native field names plus TradingView's usual ``ticker`` / ``action`` (buy|sell) /
    ``price`` / ``time`` placeholders, e.g. ``{"id": "{{timenow}}-1", "ticker": "BTCUSDT", "action": "buy"}``.
    """
    data = dict(_load(payload))
    data.pop("secret", None)
    if "symbol" not in data and "ticker" in data:
        data["symbol"] = _tv_symbol(str(data.pop("ticker")))
    action = str(data.get("action", "")).lower()
    if action in ("buy", "sell"):
        data["action"], data["side"] = "open", action
    elif action in ("close", "exit", "flat"):
        data["action"] = "close"
    if "generated_at" not in data and "time" in data:
        data["generated_at"] = data.pop("time")
    if "entry" not in data and "price" in data:
        data["entry"] = {"type": "limit", "price": str(data.pop("price"))}
    return parse_native(data, source)


_QUOTES = ("USDT", "USDC", "BUSD", "FDUSD", "BTC", "ETH", "EUR", "USD")


def _tv_symbol(ticker: str) -> str:
    ticker = ticker.split(":")[-1].upper()       # "BINANCE:BTCUSDT" → "BTCUSDT"
    if "/" in ticker:
        return ticker
    for quote in _QUOTES:
        if ticker.endswith(quote) and len(ticker) > len(quote):
            return f"{ticker[:-len(quote)]}/{quote}"
    return ticker


def parse_signal(payload: str | bytes | dict[str, Any], source: str, fmt: str = "native",
                 mapping: dict[str, str] | None = None) -> Signal:
    if fmt == "native":
        return parse_native(payload, source)
    if fmt == "tradingview":
        return parse_tradingview(payload, source)
    if fmt == "mapping":
        return parse_mapping(payload, source, mapping or {})
    raise SignalError("INVALID_SIGNAL", f"unknown signal format {fmt!r}")
