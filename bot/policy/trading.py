"""Account trading states: ACTIVE → REDUCE_ONLY or HALTED, by the kill switch or by loss limits.

Realized PnL is summed per UTC day; when the day's loss reaches ``daily_loss_limit``, or equity falls
``max_drawdown_pct`` below its high-water mark, the account moves to the state its ``on_limit`` names.
A daily-loss state lifts itself at the next UTC midnight (the daily reset); a drawdown or a manual halt
stays until ``resume``, which also takes the current equity as the new high-water mark (the operator has
acknowledged the drawdown). A state never steps down by itself to a milder one: a limit does not turn a
manual HALTED into REDUCE_ONLY.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable

from bot.policy.schema import AccountLimits

ACTIVE, REDUCE_ONLY, HALTED = "ACTIVE", "REDUCE_ONLY", "HALTED"
_SEVERITY = {ACTIVE: 0, REDUCE_ONLY: 1, HALTED: 2}
ALL = "*"                                    # the account name events use for a halt of every account
_DAY = 86_400


def day_of(now: float) -> int:
    return int(now // _DAY)


@dataclass
class AccountBook:
    state: str = ACTIVE
    cause: str = ""                          # manual | daily_loss | drawdown
    reason: str = ""
    since: float = 0.0
    day: int = 0
    pnl_today: Decimal = Decimal(0)
    equity: Decimal | None = None
    peak_equity: Decimal | None = None


Emit = Callable[[str, str, str, str, float], None]   # account, state, previous, reason, since


class TradingStates:
    def __init__(self, emit: Emit):
        self._books: dict[str, AccountBook] = {}
        self._all_halted = False
        self._emit = emit

    def state(self, account: str) -> str:
        return HALTED if self._all_halted else self._book(account).state

    def pnl_today(self, account: str) -> Decimal:
        return self._book(account).pnl_today

    def roll_day(self, now: float) -> None:
        """The daily reset: today's PnL starts at zero and a daily-loss state lifts."""
        for account, book in self._books.items():
            if day_of(now) != book.day:
                book.day, book.pnl_today = day_of(now), Decimal(0)
                if book.cause == "daily_loss":
                    self._set(account, book, ACTIVE, "", "daily reset", now)

    def record_pnl(self, account: str, pnl: Decimal, equity: Decimal | None, now: float,
                   limits: AccountLimits | None, rule: str) -> None:
        self.roll_day(now)
        book = self._book(account, now)
        book.pnl_today += pnl
        if equity is not None:
            book.equity = equity
            book.peak_equity = equity if book.peak_equity is None else max(book.peak_equity, equity)
        if limits is None:
            return
        target = HALTED if limits.on_limit == "halt" else REDUCE_ONLY
        if limits.daily_loss_limit is not None and -book.pnl_today >= limits.daily_loss_limit:
            self._escalate(account, book, target, "daily_loss",
                           f"{rule}.daily_loss_limit: lost {-book.pnl_today} today (limit {limits.daily_loss_limit})",
                           now)
        if limits.max_drawdown_pct is not None and book.peak_equity and book.equity is not None:
            drawdown = (book.peak_equity - book.equity) / book.peak_equity * 100
            if drawdown >= Decimal(str(limits.max_drawdown_pct)):
                self._escalate(account, book, target, "drawdown",
                               f"{rule}.max_drawdown_pct: {drawdown:.2f}% below the high-water mark "
                               f"(limit {limits.max_drawdown_pct}%)", now)

    def halt(self, account: str | None, now: float) -> None:
        if account is None:
            if not self._all_halted:
                self._all_halted = True
                self._emit(ALL, HALTED, ACTIVE, "halted by operator", now)
            return
        book = self._book(account, now)
        self._set(account, book, HALTED, "manual", "halted by operator", now)

    def resume(self, account: str | None, now: float) -> None:
        if account is None:
            if self._all_halted:
                self._all_halted = False
                self._emit(ALL, ACTIVE, HALTED, "resumed by operator", now)
            accounts = list(self._books)
        else:
            accounts = [account]
        for name in accounts:
            book = self._book(name, now)
            book.peak_equity = book.equity
            self._set(name, book, ACTIVE, "", "resumed by operator", now)

    def _escalate(self, account: str, book: AccountBook, state: str, cause: str, reason: str, now: float) -> None:
        if _SEVERITY[state] > _SEVERITY[book.state]:
            self._set(account, book, state, cause, reason, now)

    def _set(self, account: str, book: AccountBook, state: str, cause: str, reason: str, now: float) -> None:
        previous = book.state
        book.state, book.cause, book.reason = state, cause, reason
        if state != previous:
            book.since = now
            self._emit(account, state, previous, reason, now)

    def _book(self, account: str, now: float | None = None) -> AccountBook:
        book = self._books.get(account)
        if book is None:
            book = self._books[account] = AccountBook(day=day_of(now) if now is not None else 0)
        return book

    def dump(self) -> dict[str, Any]:
        return {"all_halted": self._all_halted, "accounts": {
            name: {"state": b.state, "cause": b.cause, "reason": b.reason, "since": b.since, "day": b.day,
                   "pnl_today": str(b.pnl_today), "equity": _opt(b.equity), "peak_equity": _opt(b.peak_equity)}
            for name, b in self._books.items()}}

    def load(self, data: dict[str, Any]) -> None:
        self._all_halted = bool(data.get("all_halted", False))
        for name, b in data.get("accounts", {}).items():
            self._books[name] = AccountBook(
                state=b["state"], cause=b.get("cause", ""), reason=b.get("reason", ""), since=float(b["since"]),
                day=int(b["day"]), pnl_today=Decimal(b["pnl_today"]),
                equity=_dec(b.get("equity")), peak_equity=_dec(b.get("peak_equity")))


def _opt(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)
