"""Fault injection for the REST API (POST /_sim/faults).

A rule matches ``"METHOD /path"`` (method ``*`` or omitted = any; a trailing ``*`` on the path is a prefix
match), optionally only orders of ``order_type`` (also matching either OCO leg type). ``rate`` is the
probability (seeded) that a matching request is hit; ``count`` caps how many times the rule fires, after
which it is spent. Faults: http_500 / http_503 (non-JSON body, nothing booked), http_429 (-1003 with
Retry-After, nothing booked), reject (-2010 with a Binance message, nothing booked; ``code``/``msg``
override it), delay (``delay_ms`` then normal processing), timeout_before_accept (never answers, nothing
booked), timeout_after_accept (books the order, then never answers).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

KINDS = ("http_500", "http_503", "http_429", "timeout_after_accept", "timeout_before_accept", "reject", "delay")

# Binance's own wording for "this order type is not enabled on the symbol".
REJECT_MESSAGES = {
    "MARKET": "Market orders are not supported for this symbol.",
    "STOP_LOSS": "Stop loss orders are not supported for this symbol.",
    "STOP_LOSS_LIMIT": "Stop loss limit orders are not supported for this symbol.",
    "TAKE_PROFIT": "Take profit orders are not supported for this symbol.",
    "TAKE_PROFIT_LIMIT": "Take profit limit orders are not supported for this symbol.",
}


@dataclass
class FaultRule:
    match: str
    fault: str
    rate: float = 1.0
    count: int | None = None
    delay_ms: int = 0
    order_type: str | None = None
    code: int = -2010
    msg: str | None = None
    fired: int = 0

    def __post_init__(self) -> None:
        if self.fault not in KINDS:
            raise ValueError(f"unknown fault {self.fault!r}; one of {', '.join(KINDS)}")
        method, _, path = self.match.strip().partition(" ")
        if not path:
            method, path = "*", method
        self.method, self.path = method.upper(), path

    @property
    def spent(self) -> bool:
        return self.count is not None and self.fired >= self.count

    def matches(self, method: str, path: str, params: dict) -> bool:
        if self.method not in ("*", method):
            return False
        if self.path.endswith("*"):
            if not path.startswith(self.path[:-1]):
                return False
        elif path != self.path:
            return False
        if self.order_type:
            types = {params.get("type"), params.get("aboveType"), params.get("belowType")}
            if self.order_type not in types:
                return False
        return True

    def reject_message(self, params: dict) -> str:
        if self.msg:
            return self.msg
        for key in ("type", "aboveType", "belowType"):
            if params.get(key) in REJECT_MESSAGES:
                return REJECT_MESSAGES[params[key]]
        return "Unsupported order combination"


class Faults:
    def __init__(self, seed: int):
        self.rng = random.Random(seed + 2)
        self.rules: list[FaultRule] = []

    def set(self, rules: list[dict]) -> None:
        allowed = set(FaultRule.__dataclass_fields__) - {"fired"}
        parsed = []
        for raw in rules:
            unknown = set(raw) - allowed
            if unknown:
                raise ValueError(f"unknown fault rule fields: {sorted(unknown)}")
            parsed.append(FaultRule(**raw))
        self.rules = parsed

    def clear(self) -> None:
        self.rules = []

    def pick(self, method: str, path: str, params: dict) -> FaultRule | None:
        for rule in self.rules:
            if rule.spent or not rule.matches(method, path, params):
                continue
            if rule.rate < 1 and self.rng.random() >= rule.rate:
                continue
            rule.fired += 1
            return rule
        return None

    def describe(self) -> list[dict]:
        return [{"match": r.match, "fault": r.fault, "rate": r.rate, "count": r.count, "fired": r.fired,
                 "order_type": r.order_type, "delay_ms": r.delay_ms} for r in self.rules]
