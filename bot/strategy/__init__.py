"""Strategy plugins (SPEC §6): loading handlers by ``module:Class`` or entry point, the read-only context
they see, and a runner that contains their failures.

A handler turns a ``Signal`` into ``OrderIntent``s; it cannot place orders, so every intent goes through the
policy. A handler that raises or overruns its timeout rejects that one signal with STRATEGY_ERROR.
"""
from bot.strategy.api import Strategy, StrategyContext
from bot.strategy.loader import StrategyLoadError, load_strategy
from bot.strategy.runner import StrategyError, StrategyRunner

__all__ = ["Strategy", "StrategyContext", "StrategyError", "StrategyLoadError", "StrategyRunner", "load_strategy"]
