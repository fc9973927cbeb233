"""Which limit applies to a symbol (or a source), and which line of the policy it came from.

A limit is looked up as ``section.key`` (``order.max_notional``) and carries its rule path, e.g.
``symbols.overrides.BTC/USDT.order.max_notional``, so that a reject names the exact line to change.
Overrides match symbols with fnmatch globs; patterns apply in file order, then an exact symbol, so the most
specific entry wins.
"""
from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Mapping

from bot.policy.loader import LoadedPolicy

_SYMBOL_SECTIONS = ("order", "position", "protection", "market")


@dataclass(frozen=True, slots=True)
class Limit:
    value: Any
    rule: str


def symbol_limits(loaded: LoadedPolicy, symbol: str) -> Mapping[str, Limit]:
    key = ("symbol", symbol)
    if key not in loaded.cache:
        policy = loaded.policy
        table = _defaults(policy.defaults, _SYMBOL_SECTIONS)
        overrides = policy.symbols.overrides
        matching = [p for p in overrides if p != symbol and fnmatchcase(symbol, p)]
        matching += [symbol] if symbol in overrides else []
        for pattern in matching:
            for section in ("order", "position", "protection"):
                _overlay(table, section, getattr(overrides[pattern], section),
                         f"symbols.overrides.{pattern}.{section}")
        loaded.cache[key] = table
    return loaded.cache[key]


def signal_limits(loaded: LoadedPolicy, source: str) -> Mapping[str, Limit]:
    key = ("source", source)
    if key not in loaded.cache:
        table = _defaults(loaded.policy.defaults, ("signal",))
        rule, entry = loaded.policy.source(source)
        _overlay(table, "signal", entry.signal if entry else None, f"{rule}.signal")
        loaded.cache[key] = table
    return loaded.cache[key]


def symbol_listing(loaded: LoadedPolicy, symbol: str) -> tuple[str | None, bool]:
    """(the deny pattern that matches, or None; whether some allow pattern matches)."""
    key = ("listing", symbol)
    if key not in loaded.cache:
        symbols = loaded.policy.symbols
        denied = next((p for p in symbols.deny if fnmatchcase(symbol, p)), None)
        loaded.cache[key] = (denied, any(fnmatchcase(symbol, p) for p in symbols.allow))
    return loaded.cache[key]


def _defaults(defaults: Any, sections: tuple[str, ...]) -> dict[str, Limit]:
    return {f"{section}.{name}": Limit(getattr(getattr(defaults, section), name), f"defaults.{section}.{name}")
            for section in sections for name in type(getattr(defaults, section)).model_fields}


def _overlay(table: dict[str, Limit], section: str, override: Any, rule: str) -> None:
    if override is None:
        return
    for name in override.model_fields_set:
        value = getattr(override, name)
        if value is not None:            # an explicit `null` means "keep the default"
            table[f"{section}.{name}"] = Limit(value, f"{rule}.{name}")
