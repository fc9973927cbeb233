"""Execution owns each order's life: deterministic client ids, persist → send → observe, unknown outcomes
resolved by lookup (never blind resends), fill tracking over the venue's streams with REST reconciliation,
positions from fills, and protective legs (bracket, native OCO, or emulated OCO) with flatten on failure.
"""
from bot.execution.engine import Execution

__all__ = ["Execution"]
