"""``RiskGate``: the stateful shell around the pure engine, the one object the daemon talks to.

It gathers a ``Snapshot`` from the market and account views plus its own state (reservations, breakers,
trading states, source rates), calls ``decide``, and — in the same synchronous call, with no await in
between — reserves what an admitted order may still add. That is what makes two racing signals unable to
both take the last unit of a limit. Reservations are released when the order ends and shrunk on fills.

Outcomes the daemon reports (venue calls, strategy runs, closed trades, realized PnL) drive breakers and
trading states; every change is an event (``breaker.changed``, ``trading_state.changed``) and the whole
state round-trips through ``export_state`` / ``import_state`` so it survives a restart.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Protocol

from bot.model import Decision, OrderIntent, Side, Signal
from bot.policy.breakers import HALF_OPEN, OPEN, Breaker, BreakerBoard
from bot.policy.engine import ZERO, Quote, Snapshot, decide, kind_of, spend_asset
from bot.policy.loader import LoadedPolicy, load_policy
from bot.policy.trading import TradingStates

log = logging.getLogger(__name__)
STATE_VERSION = 1


class MarketView(Protocol):
    def quote(self, symbol: str) -> Quote | None: ...


class AccountView(Protocol):
    """What the gate reads about accounts. ``symbols(account)`` is optional: when present it lists the
    symbols with positions, for gross exposure; otherwise the gate uses every symbol it has judged."""

    def free_balance(self, account: str, asset: str) -> Decimal | None: ...
    def position_qty(self, account: str, symbol: str) -> Decimal: ...
    def open_orders(self, account: str, symbol: str) -> int: ...
    def realized_pnl_today(self, account: str) -> Decimal: ...


@dataclass
class Reservation:
    """What an admitted, not yet finished order may still do to exposure and balances."""

    account: str
    symbol: str
    side: Side
    reducing: bool
    quantity: Decimal                        # remaining, unfilled
    price: Decimal                           # the price its notional was judged at (0 when unpriced)
    asset: str                               # the asset it spends

    @property
    def spend(self) -> Decimal:
        return self.quantity * self.price if self.side is Side.BUY else self.quantity

    def dump(self) -> dict[str, Any]:
        return {"account": self.account, "symbol": self.symbol, "side": self.side.value, "reducing": self.reducing,
                "quantity": str(self.quantity), "price": str(self.price), "asset": self.asset}

    @classmethod
    def load(cls, data: dict[str, Any]) -> "Reservation":
        return cls(data["account"], data["symbol"], Side(data["side"]), bool(data["reducing"]),
                   Decimal(data["quantity"]), Decimal(data["price"]), data["asset"])


class RecentSignals:
    """The signals one source sent recently, for its rate limit: counting and deduplication in O(1)
    (several intents of one signal count once)."""

    def __init__(self) -> None:
        self._hits: deque[tuple[float, str]] = deque()
        self._ids: set[str] = set()

    def add(self, now: float, signal_id: str) -> None:
        if signal_id not in self._ids:
            self._hits.append((now, signal_id))
            self._ids.add(signal_id)

    def count_other(self, signal_id: str, since: float) -> int:
        """Signals since ``since`` other than ``signal_id``."""
        while self._hits and self._hits[0][0] <= since:
            self._ids.discard(self._hits.popleft()[1])
        return len(self._hits) - (signal_id in self._ids)

    def __bool__(self) -> bool:
        return bool(self._hits)

    def dump(self) -> list[list[Any]]:
        return [[ts, signal_id] for ts, signal_id in self._hits]

    @classmethod
    def load(cls, items: list[list[Any]]) -> "RecentSignals":
        recent = cls()
        for ts, signal_id in items:
            recent.add(float(ts), str(signal_id))
        return recent


class RiskGate:
    def __init__(self, loaded: LoadedPolicy, market: MarketView, accounts: AccountView, *,
                 clock: Callable[[], float] = time.time, on_event: Callable[[str, dict], None] | None = None,
                 venue_of: Callable[[str], str] = lambda account: account):
        self.loaded = loaded
        self._market, self._accounts = market, accounts
        self._clock, self._on_event, self._venue_of = clock, on_event, venue_of
        self._reservations: dict[str, Reservation] = {}
        self._seen_symbols: dict[str, set[str]] = {}
        self._source_hits: dict[str, RecentSignals] = {}
        self._board = BreakerBoard(loaded.policy, self._breaker_changed)
        self._trading = TradingStates(self._trading_changed)

    # -- judging ------------------------------------------------------------------------------------------

    def evaluate(self, intent: OrderIntent, signal: Signal | None = None, *, key: str) -> Decision:
        """Judges the intent and, unless the decision blocks it, reserves it under ``key`` (same call).

        Re-evaluating a key replaces its reservation. In observe mode a would-be reject is still reserved,
        because the order does go out and later decisions must see it.
        """
        now = self._clock()
        self.tick(now)
        self._reservations.pop(key, None)
        snapshot = self.snapshot(intent, signal, now)
        decision = decide(intent, snapshot, self.loaded)
        if not decision.blocks:
            self._admit(decision.intent, signal, key, now)
        return decision

    def snapshot(self, intent: OrderIntent, signal: Signal | None = None, now: float | None = None) -> Snapshot:
        """Everything ``decide`` needs for this intent, read now (``policy explain`` uses it too)."""
        now = self._clock() if now is None else now
        account, symbol = intent.account, intent.symbol
        self._seen_symbols.setdefault(account, set()).add(symbol)
        mine = [r for r in self._reservations.values() if r.account == account]
        here = [r for r in mine if r.symbol == symbol]
        entries_here = [r for r in here if not r.reducing]
        asset = spend_asset(intent)
        venue = self._venue_of(account)
        venue_breaker = self._board.get("venue", venue)
        source_breaker = self._board.get("source", signal.source) if signal is not None else None
        token = _probe_token(signal)
        _, limits = self.loaded.policy.account(account)
        return Snapshot(
            now=now,
            quote=self._market.quote(symbol),
            free_balance=self._accounts.free_balance(account, asset),
            position_qty=self._accounts.position_qty(account, symbol),
            # The venue's count may not include an order admitted a moment ago; ours does not know
            # orders from before a restart. The larger of the two is never an undercount.
            open_orders=max(self._accounts.open_orders(account, symbol), len(entries_here)),
            pending_buy=sum((r.quantity for r in entries_here if r.side is Side.BUY), ZERO),
            pending_sell=sum((r.quantity for r in entries_here if r.side is Side.SELL), ZERO),
            pending_reduce=sum((r.quantity for r in here if r.reducing and r.side is intent.side), ZERO),
            # Conservative: the venue may already have locked part of this in its free balance figure.
            reserved_spend=sum((r.spend for r in mine if r.asset == asset), ZERO),
            gross_exposure=self._gross_exposure(account, mine) if limits and limits.max_gross_exposure else ZERO,
            # The worse of the daemon's books and our own tally, so neither missing a trade can hide a loss.
            realized_pnl_today=min(self._accounts.realized_pnl_today(account), self._trading.pnl_today(account)),
            trading_state=self._trading.state(account),
            venue=venue,
            venue_breaker=_effective(venue_breaker, now, None),
            source_breaker=_effective(source_breaker, now, token),
            source_recent=self._source_recent(signal, now),
            signal=signal)

    def _admit(self, intent: OrderIntent, signal: Signal | None, key: str, now: float) -> None:
        kind = kind_of(intent)
        if kind != "protective" and intent.quantity is not None:
            price = intent.price or intent.stop_price or ZERO
            self._reservations[key] = Reservation(intent.account, intent.symbol, intent.side, kind == "reducing",
                                                  intent.quantity, price, spend_asset(intent))
        if kind != "entry":
            return                       # exits and protective legs are not probes: they pass breakers anyway
        venue_breaker = self._board.get("venue", self._venue_of(intent.account))
        if venue_breaker is not None:
            venue_breaker.take_probe(now, None)
        if signal is not None:
            source_breaker = self._board.get("source", signal.source)
            if source_breaker is not None:
                source_breaker.take_probe(now, _probe_token(signal))
            self._source_hits.setdefault(signal.source, RecentSignals()).add(now, signal.id)

    def _gross_exposure(self, account: str, mine: list[Reservation]) -> Decimal | None:
        symbols_of = getattr(self._accounts, "symbols", None)
        symbols = set(symbols_of(account)) if callable(symbols_of) else set(self._seen_symbols.get(account, ()))
        total = sum((r.quantity * r.price for r in mine if not r.reducing), ZERO)
        for symbol in symbols | {r.symbol for r in mine}:
            quantity = self._accounts.position_qty(account, symbol)
            if quantity:
                quote = self._market.quote(symbol)
                mark = quote.mark if quote is not None else None
                if mark is None:
                    return None          # a position we cannot value: the check fails closed
                total += abs(quantity) * mark
        return total

    def _source_recent(self, signal: Signal | None, now: float) -> int:
        if signal is None:
            return 0
        _, source = self.loaded.policy.source(signal.source)
        hits = self._source_hits.get(signal.source)
        if source is None or source.rate is None or not hits:
            return 0
        return hits.count_other(signal.id, now - source.rate.per)

    # -- reservations -------------------------------------------------------------------------------------

    def update_reservation(self, key: str, remaining_qty: Decimal) -> None:
        reservation = self._reservations.get(key)
        if reservation is None:
            return
        if remaining_qty <= 0:
            self.release(key)
        else:
            reservation.quantity = remaining_qty

    def release(self, key: str) -> None:
        self._reservations.pop(key, None)

    def reservations(self) -> dict[str, Reservation]:
        return dict(self._reservations)

    # -- outcomes that drive breakers and trading states -----------------------------------------------------

    def record_venue_result(self, account: str, ok: bool) -> None:
        self._record("venue", self._venue_of(account), ok)

    def record_strategy_result(self, strategy: str, ok: bool) -> None:
        self._record("strategy", strategy, ok)

    def record_closed_trade(self, source: str, pnl: Decimal) -> None:
        self._record("source", source, pnl > 0)

    def _record(self, kind: str, name: str, ok: bool) -> None:
        now = self._clock()
        self.tick(now)
        self._board.record(self._board.get(kind, name), ok, now)

    def record_realized_pnl(self, account: str, pnl: Decimal, equity: Decimal | None = None) -> None:
        """``pnl`` is what one closed trade (or fill) realized; ``equity`` the account's value after it."""
        rule, limits = self.loaded.policy.account(account)
        self._trading.record_pnl(account, pnl, equity, self._clock(), limits, rule)

    # -- operator controls and queries ----------------------------------------------------------------------

    def halt(self, account: str | None = None) -> None:
        self._trading.halt(account, self._clock())

    def resume(self, account: str | None = None) -> None:
        self._trading.resume(account, self._clock())

    def trading_state(self, account: str) -> str:
        self.tick()
        return self._trading.state(account)

    def register(self, *, accounts: Iterable[str] = (), sources: Iterable[str] = (),
                 strategies: Iterable[str] = ()) -> None:
        """Creates the breakers of configured names up front, so they are listed (CLOSED) before first use."""
        for kind, names in (("venue", [self._venue_of(a) for a in accounts]), ("source", sources),
                            ("strategy", strategies)):
            for name in names:
                self._board.get(kind, name)

    def breakers(self) -> list[dict]:
        self.tick()
        return [breaker.view() for breaker in self._board.all()]

    def reset_breaker(self, name: str) -> bool:
        breaker = self._board.by_name(name)
        if breaker is None:
            return False
        self._board.reset(breaker, self._clock())
        return True

    def strategy_allowed(self, strategy: str) -> bool:
        """False while the strategy's breaker is OPEN; in HALF_OPEN the first caller gets the probe."""
        now = self._clock()
        self.tick(now)
        breaker = self._board.get("strategy", strategy)
        if breaker is None:
            return True
        if breaker.blocked(now):
            return False
        breaker.take_probe(now)
        return True

    def tick(self, now: float | None = None) -> None:
        """Time-driven changes: breaker cool-downs end, the trading day rolls. Called on every operation;
        the daemon's scheduler may call it too so that the events come out on time when nothing trades."""
        now = self._clock() if now is None else now
        self._board.refresh(now)
        self._trading.roll_day(now)

    def reload(self, path: str | Path | None = None) -> LoadedPolicy:
        """Loads the policy again (or another file); raises PolicyError and keeps the old one if invalid."""
        loaded = load_policy(path if path is not None else self.loaded.path)
        self.loaded = loaded
        self._board.apply_policy(loaded.policy)
        self._emit("policy.reloaded", {"path": loaded.path, "hash": loaded.hash})
        return loaded

    # -- persistence --------------------------------------------------------------------------------------

    def export_state(self) -> dict:
        return {"version": STATE_VERSION,
                "breakers": self._board.dump(),
                "trading": self._trading.dump(),
                "reservations": {key: r.dump() for key, r in self._reservations.items()},
                "source_hits": {source: hits.dump() for source, hits in self._source_hits.items()},
                "seen_symbols": {account: sorted(symbols) for account, symbols in self._seen_symbols.items()}}

    def import_state(self, state: dict) -> None:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported risk state version {state.get('version')!r}")
        self._board.load(state.get("breakers", []))
        self._trading.load(state.get("trading", {}))
        self._reservations = {key: Reservation.load(r) for key, r in state.get("reservations", {}).items()}
        self._source_hits = {source: RecentSignals.load(hits) for source, hits in state.get("source_hits", {}).items()}
        self._seen_symbols = {account: set(symbols) for account, symbols in state.get("seen_symbols", {}).items()}

    # -- events -------------------------------------------------------------------------------------------

    def _breaker_changed(self, breaker: Breaker, previous: str) -> None:
        self._emit("breaker.changed", {**breaker.view(), "previous": previous})

    def _trading_changed(self, account: str, state: str, previous: str, reason: str, since: float) -> None:
        self._emit("trading_state.changed", {"account": account, "state": state, "previous": previous,
                                             "reason": reason, "since": since})

    def _emit(self, kind: str, payload: dict) -> None:
        log.info("%s %s", kind, payload)
        if self._on_event is not None:
            try:
                self._on_event(kind, payload)
            except Exception:  # a listener's bug must not break the trading path
                log.exception("risk event listener failed on %s", kind)


def _probe_token(signal: Signal | None) -> str | None:
    return f"{signal.source}:{signal.id}" if signal is not None else None


def _effective(breaker: Breaker | None, now: float, token: str | None) -> str:
    """The state a decision sees: HALF_OPEN with its probe already out blocks like OPEN."""
    if breaker is None:
        return "CLOSED"
    if breaker.state == HALF_OPEN and breaker.blocked(now, token):
        return OPEN
    return breaker.state

