"""The trading path for signals: parse → record (at most once per source and id) → strategies → policy →
execution, with every signal ending in a recorded decision.

A signal's status is ACCEPTED (at least one order placed), REJECTED (with the first reject code) or INVALID
(malformed). A duplicate is never processed twice: its first result is returned, marked DUPLICATE.
Nothing here awaits between the policy's check and the order being persisted, so exposure reserved by the
policy always has a durable order behind it.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from structlog.contextvars import bound_contextvars

from bot.events import EventBus
from bot.execution import Execution
from bot.intake.adapters import SignalError, parse_signal
from bot.model import Decision, Leg, OrderIntent, Origin, Signal
from bot.policy import RiskGate
from bot.strategy import StrategyContext, StrategyError, StrategyRunner
from bot.store import Store

log = logging.getLogger("tradewire.signals")


@dataclass
class Route:
    """A strategy subscribed to sources, trading one account."""

    name: str
    runner: StrategyRunner
    account: str
    sources: frozenset[str]
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class SignalResult:
    key: str
    status: str                 # ACCEPTED | REJECTED | INVALID | DUPLICATE
    code: str | None = None
    detail: str | None = None
    orders: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "status": self.status, "code": self.code, "detail": self.detail,
                "orders": self.orders}


class SignalPipeline:
    def __init__(self, store: Store, gate: RiskGate, execution: Execution, market, routes: list[Route],
                 bus: EventBus, *, metrics: Any = None):
        self.store = store
        self.gate = gate
        self.execution = execution
        self.market = market
        self.routes = routes
        self.bus = bus
        self.metrics = metrics
        # Frame received → order persisted and handed to the venue client, in seconds (benchmarks).
        self.latencies: deque[float] = deque(maxlen=100_000)

    def context(self, route: Route) -> StrategyContext:
        positions = self.execution.positions.for_account(route.account)
        return StrategyContext(name=route.name, account=route.account, params=route.params,
                               price=self.market.price, balances=dict(self.execution.balances.get(route.account, {})),
                               positions=positions)

    async def submit_payload(self, payload: Any, source: str, fmt: str = "native",
                             mapping: dict[str, str] | None = None, received: float | None = None) -> SignalResult:
        """Parses and processes one raw payload; a malformed one is recorded as INVALID and never raises."""
        received = received or time.perf_counter()
        raw_text = payload if isinstance(payload, str) else json.dumps(payload, default=str)
        try:
            signal = parse_signal(payload, source, fmt, mapping)
        except SignalError as exc:
            return self.record_invalid(source, raw_text, exc)
        return await self.process(signal, raw_text, received)

    def record_invalid(self, source: str, raw_text: str, exc: SignalError) -> SignalResult:
        ref = exc.signal_id or "invalid-" + hashlib.sha256(raw_text.encode()).hexdigest()[:16]
        key = f"{source}:{ref}"
        if not self.store.record_signal(key, source, ref, raw_text[:65536], "INVALID", exc.code, exc.message):
            previous = self.store.get_signal(key) or {}
            return SignalResult(key, "DUPLICATE", previous.get("code"), previous.get("detail"))
        log.warning("signal %s rejected: %s: %s", key, exc.code, exc.message)
        self._decided(source, key, "INVALID", exc.code, exc.message)
        return SignalResult(key, "INVALID", exc.code, exc.message)

    async def process(self, signal: Signal, raw_text: str | None = None, received: float | None = None,
                      *, replay: bool = False) -> SignalResult:
        received = received or time.perf_counter()
        key = f"{signal.source}:{signal.id}"
        if not replay and not self.store.record_signal(key, signal.source, signal.id,
                                                        raw_text or signal.model_dump_json()):
            previous = self.store.get_signal(key) or {}
            log.info("signal %s is a duplicate: already %s", key, previous.get("status"))
            return SignalResult(key, "DUPLICATE", previous.get("code"), previous.get("detail"),
                                [o.id for o in self.store.orders_for_signal(key)])
        # Every log line of this signal's life (and of the order tasks it starts) carries its id.
        with bound_contextvars(signal_id=key):
            return await self._decide(signal, key, received)

    async def _decide(self, signal: Signal, key: str, received: float) -> SignalResult:
        routes = [r for r in self.routes if signal.source in r.sources]
        if not routes:
            return self._finish(signal, key, [], "REJECTED", "NO_STRATEGY", "no strategy subscribes to this source")
        placed: list[str] = []
        first_reject: tuple[str, str] | None = None
        for route in routes:
            code, detail = await self._route(route, signal, key, placed, received)
            if code and first_reject is None:
                first_reject = (code, detail)
        if placed:
            return self._finish(signal, key, placed, "ACCEPTED", None, None)
        code, detail = first_reject or ("NO_INTENT", "the strategy returned no orders")
        return self._finish(signal, key, placed, "REJECTED", code, detail)

    async def _route(self, route: Route, signal: Signal, key: str, placed: list[str],
                     received: float) -> tuple[str | None, str]:
        if not self.gate.strategy_allowed(route.name):
            return "BREAKER_OPEN", f"strategy {route.name} breaker is open"
        try:
            intents = await route.runner.on_signal(signal, self.context(route))
            self.gate.record_strategy_result(route.name, True)
        except StrategyError as exc:
            self.gate.record_strategy_result(route.name, False)
            log.error("strategy %s failed on %s: %s", route.name, key, exc)
            return "STRATEGY_ERROR", str(exc)
        reject: tuple[str | None, str] = (None, "")
        for index, intent in enumerate(intents):
            intent = self._prepare(intent, route, signal, index, len(intents))
            cid = self.execution.client_id_for(intent, intent.origin)  # type: ignore[arg-type]
            if self.store.get_order_by_client_id(cid) is not None:
                placed.append(cid)       # processed before a restart: the order exists, never place it twice
                continue
            decision = self.gate.evaluate(intent, signal, key=cid)
            if decision.blocks:
                self._log_decision(signal, key, decision)
                reject = reject if reject[0] else (decision.code, self._describe(decision))
                continue
            order = self.execution.order_for(decision.intent, intent.origin, cid, key)  # type: ignore[arg-type]
            self.execution.place(order, {"policy_hash": decision.policy_hash, "rule": decision.rule})
            # Let the send task put the request on the wire before the bookkeeping below.
            await asyncio.sleep(0)
            self._log_decision(signal, key, decision)
            latency = time.perf_counter() - received
            self.latencies.append(latency)
            if self.metrics is not None:
                self.metrics.signal_to_submit.labels(source=signal.source).observe(latency)
            placed.append(cid)
        return reject

    def _prepare(self, intent: OrderIntent, route: Route, signal: Signal, index: int, count: int) -> OrderIntent:
        leg = Leg.EXIT if signal.action == "close" else intent.leg
        tag = intent.tag or (str(index) if count > 1 else "")
        origin = Origin(kind="signal", source=signal.source, ref=signal.id)
        return self.execution.round_quantity(intent.with_(account=route.account, origin=origin, leg=leg, tag=tag,
                                                          reduce_only=intent.reduce_only or leg is Leg.EXIT))

    @staticmethod
    def _describe(decision: Decision) -> str:
        return f"{decision.rule}: limit {decision.limit}, observed {decision.observed}"

    def _log_decision(self, signal: Signal, key: str, decision: Decision) -> None:
        """One line per signal and intent: what came in and what the policy made of it."""
        intent = decision.intent
        head = f"signal {key} {signal.action} {signal.side or ''} {signal.symbol}"
        if decision.accepted:
            log.info("%s: accept %s %s @ %s", head, intent.side.value, intent.quantity, intent.price or "market")
        elif not decision.enforced:
            log.info("%s: would reject %s (%s) — observe mode", head, decision.code, self._describe(decision))
        else:
            log.info("%s: reject %s (%s)", head, decision.code, self._describe(decision))

    def _finish(self, signal: Signal, key: str, placed: list[str], status: str, code: str | None,
                detail: str | None) -> SignalResult:
        if code in ("NO_STRATEGY", "NO_INTENT", "BREAKER_OPEN"):   # outcomes no policy decision has logged
            log.info("signal %s %s %s: %s (%s)", key, signal.action, signal.symbol, code, detail)
        self.store.decide_signal(key, status, code, detail, self.gate.loaded.hash)
        self._decided(signal.source, key, status, code, detail, placed)
        return SignalResult(key, status, code, detail, placed)

    def _decided(self, source: str, key: str, status: str, code: str | None, detail: str | None,
                 orders: list[str] | None = None) -> None:
        self.bus.publish("signal.decided", {"key": key, "source": source, "status": status, "code": code,
                                            "detail": detail, "orders": orders or []})

    async def resume_undecided(self) -> int:
        """Signals persisted before a crash but never decided: run them again (client ids prevent doubles)."""
        count = 0
        for row in self.store.undecided_signals():
            try:
                signal = parse_signal(row["payload"], row["source"])
            except SignalError as exc:
                self.store.decide_signal(row["key"], "INVALID", exc.code, exc.message)
                continue
            await self.process(signal, row["payload"], replay=True)
            count += 1
        return count
