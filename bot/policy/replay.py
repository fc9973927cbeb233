"""``tradewire replay``: recorded native signals through a strategy and the policy, offline, as a what-if.

Time is each signal's ``generated_at`` (so signals are judged as if received at once: staleness cannot be
replayed). Prices come from ``--prices`` (CSV or JSON lines with ``ts, symbol, bid, ask`` or ``price``),
applied up to each signal's time. Admitted orders are booked as filled at their price; exits and PnL are not
simulated, so loss limits and source breakers do not trip in a replay.
"""
from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from pydantic import ValidationError
from rich.progress import Progress

from bot.model import Signal
from bot.policy.loader import LoadedPolicy
from bot.policy.offline import OfflineWorld, make_gate, parse_time, strategy_intents
from bot.strategy import StrategyError


@dataclass(frozen=True)
class PricePoint:
    ts: float
    symbol: str
    bid: str | None
    ask: str | None


def read_prices(path: Path) -> list[PricePoint]:
    if path.suffix.lower() == ".csv":
        with path.open(newline="") as handle:
            rows: list[dict[str, Any]] = list(csv.DictReader(handle))
    else:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    points = [PricePoint(parse_time(row["ts"]), row["symbol"], row.get("bid") or row.get("price"),
                         row.get("ask") or row.get("price")) for row in rows]
    return sorted(points, key=lambda p: p.ts)


def read_signals(path: Path) -> Iterator[tuple[int, Signal | None, str]]:
    """(line number, signal or None, error) per non-blank line; frames ``{"type":"signal",...}`` unwrap."""
    with path.open() as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if isinstance(data, dict) and data.get("type") == "signal":
                    data = data["signal"]
                yield number, Signal.model_validate(data), ""
            except (ValueError, ValidationError, KeyError) as exc:
                yield number, None, str(exc).splitlines()[0]


@dataclass
class Tally:
    accepted: int = 0
    rejected: int = 0
    by_code: Counter[str] = field(default_factory=Counter)

    def add(self, code: str | None) -> None:
        if code is None:
            self.accepted += 1
        else:
            self.rejected += 1
            self.by_code[code] += 1

    def dump(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "rejected": self.rejected, "by_code": dict(self.by_code.most_common())}


def replay(signals: Path, loaded: LoadedPolicy, *, prices: Path | None = None, handler: str, params: dict[str, Any],
           state: dict[str, Any], account: str, progress: Progress | None = None) -> dict[str, Any]:
    world = OfflineWorld.from_state(state)
    gate = make_gate(loaded, world, state)
    series = read_prices(prices) if prices else []
    lines = sum(1 for line in signals.open() if line.strip())
    task = progress.add_task("replaying", total=lines) if progress else None
    seen: set[str] = set()
    by_rule: Counter[str] = Counter()
    by_source: dict[str, Tally] = defaultdict(Tally)
    total, rows, cursor = Tally(), [], 0
    strategy = handler.rpartition(":")[2]

    def record(row: dict[str, Any], source: str) -> None:
        rows.append(row)
        total.add(row["code"])
        by_source[source].add(row["code"])
        if row["code"] is not None:
            by_rule[f"{row['code']} {row.get('rule') or ''}".strip()] += 1

    for number, signal, error in read_signals(signals):
        if progress is not None and task is not None:
            progress.advance(task)
        if signal is None:
            record({"line": number, "code": "INVALID_SIGNAL", "detail": error}, "?")
            continue
        key = f"{signal.source}:{signal.id}"
        if key in seen:
            continue                     # the daemon processes a (source, id) once
        seen.add(key)
        world.now = max(world.now, signal.generated_at.timestamp())
        while cursor < len(series) and series[cursor].ts <= world.now:
            point = series[cursor]
            world.set_quote(point.symbol, point.bid, point.ask)
            cursor += 1
        world.stand_in_quote(signal)
        base = {"line": number, "signal": key, "symbol": signal.symbol}
        try:
            intents = strategy_intents(handler, params, signal, world, account)
            gate.record_strategy_result(strategy, True)
        except StrategyError as exc:
            gate.record_strategy_result(strategy, False)
            record({**base, "code": "STRATEGY_ERROR", "detail": str(exc)}, signal.source)
            continue
        if not intents:
            record({**base, "code": "NO_INTENT", "detail": "the strategy returned no orders"}, signal.source)
        for index, intent in enumerate(intents):
            order_key = f"{key}:{index}"
            decision = gate.evaluate(intent, signal, key=order_key)
            if not decision.blocks:
                world.fill(decision.intent)
                gate.release(order_key)
            sent = decision.intent
            record({**base, "side": sent.side.value, "quantity": _text(sent.quantity), "price": _text(sent.price),
                    "code": decision.code, "rule": decision.rule, "limit": decision.limit,
                    "observed": decision.observed, "enforced": decision.enforced}, signal.source)
    return {"policy": {"path": loaded.path, "hash": loaded.hash, "mode": loaded.policy.mode},
            "strategy": handler, "params": params, "account": account,
            "decisions": len(rows), "accepted": total.accepted, "rejected": total.rejected,
            "by_rule": dict(by_rule.most_common()),
            "by_source": {source: tally.dump() for source, tally in sorted(by_source.items())},
            "positions": {symbol: str(qty) for symbol, qty in world.positions.items() if qty},
            "rows": rows}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
