"""Durable state in SQLite (WAL, via sqlite-utils): signals and their decisions, orders with an append-only
event log, fills (deduplicated by venue trade id), positions, and a small key/value table for component
state (breakers, trading states) that must survive restarts.

Every write that must precede a network call (an order before it is sent) is committed before the
method returns. Decimals are stored as decimal strings, never as REAL.
"""
from bot.store.db import Store

__all__ = ["Store"]
