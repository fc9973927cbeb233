"""Finds a strategy class from ``module:Class`` or a ``tradewire.strategies`` entry-point name."""
from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any


class StrategyLoadError(Exception):
    pass


def load_strategy(handler: str, params: dict[str, Any] | None = None) -> Any:
    """Instantiates the handler; the class is called with ``params=`` when its constructor accepts it."""
    if ":" in handler:
        module_name, _, class_name = handler.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            raise StrategyLoadError(f"cannot load strategy handler {handler!r}: {exc}") from exc
    else:
        found = [ep for ep in entry_points(group="tradewire.strategies") if ep.name == handler]
        if not found:
            raise StrategyLoadError(
                f"strategy handler {handler!r} is neither 'module:Class' nor a tradewire.strategies entry point")
        cls = found[0].load()
    if not callable(getattr(cls, "on_signal", None)):
        raise StrategyLoadError(f"strategy handler {handler!r} has no on_signal method")
    try:
        return cls(params=dict(params or {}))
    except TypeError:
        return cls()
