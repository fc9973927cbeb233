"""Runs one strategy's hooks with a timeout, turning any failure into ``StrategyError``."""
from __future__ import annotations

import asyncio
import inspect
from typing import Any

from bot.model import Fill, OrderIntent, Signal
from bot.strategy.api import StrategyContext


class StrategyError(Exception):
    """The handler raised, timed out or returned something that is not a list of OrderIntent."""


class StrategyRunner:
    def __init__(self, name: str, handler: Any, timeout: float = 1.0):
        self.name = name
        self.handler = handler
        self.timeout = timeout

    async def _call(self, hook: str, *args: Any) -> Any:
        method = getattr(self.handler, hook, None)
        if method is None:
            return None
        try:
            result = method(*args)
            if inspect.isawaitable(result):
                async with asyncio.timeout(self.timeout):
                    result = await result
            return result
        except asyncio.TimeoutError as exc:
            raise StrategyError(f"{self.name}.{hook} timed out after {self.timeout}s") from exc
        except Exception as exc:  # a plugin's bug must never reach the daemon
            raise StrategyError(f"{self.name}.{hook} raised {type(exc).__name__}: {exc}") from exc

    async def on_signal(self, signal: Signal, ctx: StrategyContext) -> list[OrderIntent]:
        intents = await self._call("on_signal", signal, ctx)
        if intents is None:
            return []
        if not isinstance(intents, (list, tuple)) or not all(isinstance(i, OrderIntent) for i in intents):
            raise StrategyError(f"{self.name}.on_signal must return a list of OrderIntent, got {intents!r:.80}")
        return list(intents)

    async def on_fill(self, fill: Fill, ctx: StrategyContext) -> None:
        await self._call("on_fill", fill, ctx)

    async def on_start(self) -> None:
        await self._call("on_start")

    async def on_stop(self) -> None:
        await self._call("on_stop")
