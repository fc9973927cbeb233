"""The policy engine: ``decide(intent, snapshot, policy) -> Decision``, a pure function.

No I/O, no clock, no awaits: everything the rules look at (time, quote, balances, positions, breaker states,
reservations) is in the ``Snapshot``. ``explain`` runs the same checks but does not stop at the first
failure, so ``tradewire policy explain`` can show every rule's verdict.

Intents fall into three kinds, judged differently:
- *protective* legs (stop loss, take profit, flatten): always pass. They only ever shrink a position, and
  refusing one would leave a position naked, which is worse than any limit they could break.
- *reducing* intents (``reduce_only`` or leg EXIT, e.g. a ``close`` signal): pass in ACTIVE and REDUCE_ONLY
  states, are refused while HALTED (only the safety machinery trades then), must actually reduce the
  position (clipped to it), and skip every exposure, symbol and signal limit. A MARKET exit stays MARKET:
  getting out matters more than the price, and a missing quote must never trap a position.
- *entries*: every check below, fail closed. A MARKET entry is turned into a LIMIT IOC order at the
  protective price ask·(1 + max_slippage_bps) for buys, bid·(1 − max_slippage_bps) for sells, and all
  notional limits are judged at that worst-case price. Without a fresh two-sided quote it is rejected
  (NO_MARKET_DATA): unlike NautilusTrader, a MARKET order never skips the notional check.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Callable, Iterator, Mapping
from zoneinfo import ZoneInfo

from bot.model import Decision, Leg, OrderIntent, OrderType, Side, Signal, TimeInForce
from bot.policy.limits import Limit, signal_limits, symbol_limits, symbol_listing
from bot.policy.loader import LoadedPolicy
from bot.policy.schema import parse_days

PROTECTIVE_LEGS = frozenset({Leg.STOP_LOSS, Leg.TAKE_PROFIT, Leg.FLATTEN})
# Types whose limit price can be judged against the touch; stop orders trigger away from it by design.
_PRICED_AT_TOUCH = frozenset({OrderType.LIMIT, OrderType.LIMIT_MAKER})
_BPS = Decimal(10_000)
_SHOWN = Decimal("1e-8")
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Quote:
    bid: Decimal | None
    ask: Decimal | None
    last: Decimal | None
    ts: float                                # epoch seconds

    @property
    def mark(self) -> Decimal | None:
        """Mid when two-sided, else the last trade: what a position is worth."""
        if self.bid and self.ask:
            return (self.bid + self.ask) / 2
        return self.last


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything ``decide`` may look at, gathered by the caller at one instant."""

    now: float                               # epoch seconds
    quote: Quote | None = None               # for the intent's symbol
    free_balance: Decimal | None = None      # of the asset the order spends: quote for buys, base for sells
    position_qty: Decimal = ZERO             # signed base quantity on the intent's symbol
    open_orders: int = 0                     # open entry orders on the symbol (incl. reservations)
    pending_buy: Decimal = ZERO              # base quantity of accepted, unfilled entries on the symbol
    pending_sell: Decimal = ZERO
    pending_reduce: Decimal = ZERO           # base quantity of accepted, unfilled exits on the symbol, same side
    reserved_spend: Decimal = ZERO           # of the spend asset, held by accepted, unfilled orders
    gross_exposure: Decimal | None = ZERO    # account: Σ|position|·mark + pending entries; None = a mark is missing
    realized_pnl_today: Decimal = ZERO
    trading_state: str = "ACTIVE"            # ACTIVE | REDUCE_ONLY | HALTED
    venue: str = "default"
    venue_breaker: str = "CLOSED"            # OPEN also while HALF_OPEN's single probe is out
    source_breaker: str = "CLOSED"
    source_recent: int = 0                   # other signals from the source that traded within rate.per
    signal: Signal | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    rule: str                                # policy path, e.g. defaults.order.max_notional
    outcome: str                             # pass | fail | skip
    code: str | None = None
    limit: str | None = None
    observed: str | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class Explanation:
    decision: Decision
    verdicts: tuple[Verdict, ...]


def kind_of(intent: OrderIntent) -> str:
    if intent.leg in PROTECTIVE_LEGS:
        return "protective"
    if intent.reduce_only or intent.leg is Leg.EXIT:
        return "reducing"
    return "entry"


def decide(intent: OrderIntent, snapshot: Snapshot, loaded: LoadedPolicy) -> Decision:
    return _judge(intent, snapshot, loaded, every_rule=False).decision


def explain(intent: OrderIntent, snapshot: Snapshot, loaded: LoadedPolicy) -> Explanation:
    return _judge(intent, snapshot, loaded, every_rule=True)


# ---------------------------------------------------------------------------------------------------------

@dataclass
class _Case:
    """The working state of one judgement: derived prices and sizes, notes, the intent as it will be sent."""

    intent: OrderIntent
    snap: Snapshot
    loaded: LoadedPolicy
    limits: Mapping[str, Limit]
    quote_problem: str | None = None
    touch: Decimal | None = None             # ask for buys, bid for sells
    price: Decimal | None = None             # the price the order's notional is judged at
    quantity: Decimal | None = None
    notional: Decimal | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def side(self) -> Side:
        return self.intent.side

    def limit(self, key: str) -> Limit:
        return self.limits[key]

    def sized(self) -> bool:
        return self.quantity is not None and self.quantity > 0 and self.price is not None


def _judge(intent: OrderIntent, snap: Snapshot, loaded: LoadedPolicy, every_rule: bool) -> Explanation:
    case = _Case(intent, snap, loaded, symbol_limits(loaded, intent.symbol))
    kind = kind_of(intent)
    checks = _ENTRY_CHECKS if kind == "entry" else _REDUCING_CHECKS if kind == "reducing" else ()
    if kind == "entry":
        _price_entry(case)
    verdicts: list[Verdict] = []
    failed: Verdict | None = None
    outcome: tuple[OrderIntent, tuple[str, ...]] | None = None    # the intent and notes as of the first failure
    for check in checks:
        for verdict in check(case):
            verdicts.append(verdict)
            if verdict.outcome == "fail" and failed is None:
                failed = verdict
        if failed and outcome is None:
            outcome = (_final_intent(case, kind), tuple(case.notes))
            if not every_rule:
                break
    intent_out, notes = outcome or (_final_intent(case, kind), tuple(case.notes))
    if kind == "protective":
        verdicts.append(Verdict("protective leg", "pass", note="protective legs only shrink a position and "
                                                                 "are never blocked"))
    observe = loaded.policy.mode == "observe"
    decision = Decision(
        accepted=failed is None, intent=intent_out, code=failed and failed.code,
        rule=failed and failed.rule, limit=failed and failed.limit, observed=failed and failed.observed,
        policy_hash=loaded.hash, enforced=not observe,
        notes=notes + (("observe mode: reject not applied",) if observe and failed else ()))
    return Explanation(decision, tuple(verdicts))


def _final_intent(case: _Case, kind: str) -> OrderIntent:
    intent = case.intent
    if case.quantity is None or kind == "protective":
        return intent
    changes: dict[str, object] = {"quantity": case.quantity}
    if kind == "entry" and case.notional is not None:
        changes["notional"] = case.notional
    if kind == "entry" and intent.order_type is OrderType.MARKET and case.price is not None:
        changes.update(order_type=OrderType.LIMIT, price=case.price, time_in_force=TimeInForce.IOC)
    return intent.with_(**changes)


def _price_entry(case: _Case) -> None:
    """Works out the touch, the judged price and the quantity; leaves them None when data is missing."""
    intent, quote = case.intent, case.snap.quote
    case.quote_problem = _quote_problem(quote, case.snap.now, case.limit("market.max_quote_age").value)
    if case.quote_problem is None:
        assert quote is not None
        case.touch = quote.ask if case.side is Side.BUY else quote.bid
    if intent.order_type is OrderType.MARKET:
        if case.touch is not None:
            slip = Decimal(str(case.limit("order.max_slippage_bps").value)) / _BPS
            case.price = case.touch * (1 + slip * case.side.sign)
            case.notes.append(f"MARKET priced as LIMIT IOC at {_text(case.price)} "
                              f"({_text(case.limit('order.max_slippage_bps').value)} bps past the touch)")
    else:
        case.price = intent.price or intent.stop_price or case.touch
    case.quantity = intent.quantity
    if case.quantity is None and intent.notional is not None and case.price:
        # The quantity that spends at most `notional` at the worst price this order may fill at.
        case.quantity, case.notional = intent.notional / case.price, intent.notional
    elif case.quantity is not None and case.price is not None:
        case.notional = case.quantity * case.price


def _quote_problem(quote: Quote | None, now: float, max_age: float) -> str | None:
    if quote is None:
        return "no quote"
    if not quote.bid or not quote.ask or quote.bid <= 0 or quote.ask <= 0:
        return "no bid/ask"
    if quote.bid > quote.ask:
        return f"crossed quote (bid {_text(quote.bid)} > ask {_text(quote.ask)})"
    if now - quote.ts > max_age:
        return f"quote is {now - quote.ts:.1f}s old"
    return None


# ---------------------------------------------------------------------------------------------------------
# Checks. Each yields verdicts (nothing when it does not apply). Order matters for `decide`: the most
# fundamental reason comes first, so a halted account says TRADING_HALTED rather than NOTIONAL_TOO_LARGE.

Check = Callable[[_Case], Iterator[Verdict]]


def _pass(rule: str, limit: object = None, observed: object = None, note: str = "") -> Verdict:
    return Verdict(rule, "pass", None, _text(limit), _text(observed), note)


def _fail(code: str, rule: str, limit: object = None, observed: object = None, note: str = "") -> Verdict:
    return Verdict(rule, "fail", code, _text(limit), _text(observed), note)


def _skip(rule: str, note: str) -> Verdict:
    return Verdict(rule, "skip", note=note)


def _check_halted(case: _Case) -> Iterator[Verdict]:
    state, rule = case.snap.trading_state, f"trading_state.{case.intent.account}"
    if state == "HALTED":
        yield _fail("TRADING_HALTED", rule, "ACTIVE", state)
    elif state == "REDUCE_ONLY" and kind_of(case.intent) == "entry":
        yield _fail("REDUCE_ONLY", rule, "ACTIVE", state, "only exits are allowed")
    else:
        yield _pass(rule, "ACTIVE", state)


def _check_breakers(case: _Case) -> Iterator[Verdict]:
    policy, snap = case.loaded.policy, case.snap
    venue_rule = f"{policy.venue(snap.venue)[0]}.breaker"
    yield _fail("BREAKER_OPEN", venue_rule, "CLOSED", snap.venue_breaker) \
        if snap.venue_breaker == "OPEN" else _pass(venue_rule, "CLOSED", snap.venue_breaker)
    if snap.signal is not None:
        rule, source = policy.source(snap.signal.source)
        if source is not None and source.breaker is not None:
            yield _fail("BREAKER_OPEN", f"{rule}.breaker", "CLOSED", snap.source_breaker) \
                if snap.source_breaker == "OPEN" else _pass(f"{rule}.breaker", "CLOSED", snap.source_breaker)


def _check_schedule(case: _Case) -> Iterator[Verdict]:
    schedule = case.loaded.policy.schedule
    if schedule is None:
        return
    for window in schedule.windows:
        local = datetime.fromtimestamp(case.snap.now, ZoneInfo(window.tz))
        minute, days = local.hour * 60 + local.minute, parse_days(window.days)
        start, end = window.minutes()
        inside = (local.weekday() in days and start <= minute < end) if start < end else (
            # An overnight window (22:00-02:00) belongs to the day it starts on.
            (local.weekday() in days and minute >= start) or ((local.weekday() - 1) % 7 in days and minute < end))
        if inside:
            yield _pass("schedule.windows", observed=local.strftime("%a %H:%M %Z"))
            return
    yield _fail("OUTSIDE_TRADING_WINDOW", "schedule.windows",
                "; ".join(f"{w.days} {w.start}-{w.end} {w.tz}" for w in schedule.windows),
                datetime.fromtimestamp(case.snap.now, ZoneInfo(schedule.windows[0].tz)).strftime("%a %H:%M %Z"))


def _check_daily_loss(case: _Case) -> Iterator[Verdict]:
    rule, account = case.loaded.policy.account(case.intent.account)
    if account is None or account.daily_loss_limit is None:
        return
    loss = -case.snap.realized_pnl_today
    rule = f"{rule}.daily_loss_limit"
    yield _fail("DAILY_LOSS_LIMIT", rule, account.daily_loss_limit, loss) \
        if loss >= account.daily_loss_limit else _pass(rule, account.daily_loss_limit, loss)


def _check_symbol(case: _Case) -> Iterator[Verdict]:
    denied, allowed = symbol_listing(case.loaded, case.intent.symbol)
    if denied is not None:
        yield _fail("SYMBOL_DENIED", "symbols.deny", denied, case.intent.symbol)
    elif not allowed:
        yield _fail("SYMBOL_NOT_ALLOWED", "symbols.allow", ", ".join(case.loaded.policy.symbols.allow),
                    case.intent.symbol)
    else:
        yield _pass("symbols", observed=case.intent.symbol)


def _check_signal(case: _Case) -> Iterator[Verdict]:
    signal = case.snap.signal
    if signal is None:
        return
    limits = signal_limits(case.loaded, signal.source)
    max_age = limits["signal.max_age"]
    if signal.ttl is not None and signal.ttl < max_age.value:
        max_age = Limit(signal.ttl, "signal.ttl")
    age = case.snap.now - signal.generated_at.timestamp()
    yield _fail("SIGNAL_STALE", max_age.rule, f"{max_age.value:g}s", f"{age:.1f}s") \
        if age > max_age.value else _pass(max_age.rule, f"{max_age.value:g}s", f"{age:.1f}s")
    floor = limits["signal.min_confidence"]
    if floor.value > 0 and (signal.confidence is None or signal.confidence < floor.value):
        yield _fail("LOW_CONFIDENCE", floor.rule, floor.value,
                    "missing" if signal.confidence is None else signal.confidence)
    else:
        yield _pass(floor.rule, floor.value, signal.confidence)
    rule, source = case.loaded.policy.source(signal.source)
    if source is not None and source.rate is not None:
        rate, seen = source.rate, case.snap.source_recent
        limit = f"{rate.max} per {rate.per:g}s"
        yield _fail("SOURCE_RATE_LIMIT", f"{rule}.rate", limit, seen) \
            if seen >= rate.max else _pass(f"{rule}.rate", limit, seen)


def _check_stop_loss(case: _Case) -> Iterator[Verdict]:
    required = case.limit("protection.require_stop_loss")
    if required.value and case.intent.stop_loss is None:
        yield _fail("STOP_LOSS_REQUIRED", required.rule, "a stop_loss", "none")
    else:
        yield _pass(required.rule, required.value, case.intent.stop_loss)


def _check_order_type(case: _Case) -> Iterator[Verdict]:
    allowed = case.limit("order.allowed_types")
    names = ", ".join(t.value for t in allowed.value)
    yield _pass(allowed.rule, names, case.intent.order_type.value) if case.intent.order_type in allowed.value \
        else _fail("ORDER_TYPE_NOT_ALLOWED", allowed.rule, names, case.intent.order_type.value)


def _check_market_data(case: _Case) -> Iterator[Verdict]:
    max_age = case.limit("market.max_quote_age")
    yield _fail("NO_MARKET_DATA", max_age.rule, f"a quote under {max_age.value:g}s old", case.quote_problem) \
        if case.quote_problem else _pass(max_age.rule, f"{max_age.value:g}s", "fresh quote")


def _check_quantity(case: _Case) -> Iterator[Verdict]:
    if case.quantity is None and case.price is None:
        yield _skip("intent.quantity", "no price to size the order at")
    elif case.quantity is None or case.quantity <= 0:
        yield _fail("INVALID_QUANTITY", "intent.quantity", "> 0", case.quantity or "none")
    else:
        yield _pass("intent.quantity", "> 0", case.quantity)


def _check_slippage(case: _Case) -> Iterator[Verdict]:
    limit = case.limit("order.max_slippage_bps")
    if case.intent.order_type is OrderType.MARKET:
        if case.price is not None:
            yield _pass(limit.rule, limit.value, limit.value, "MARKET priced at the protective limit")
        return
    if case.intent.order_type not in _PRICED_AT_TOUCH or case.touch is None or case.price is None:
        return
    slippage = (case.price - case.touch) / case.touch * _BPS * case.side.sign
    observed = f"{slippage:.1f}"
    yield _fail("SLIPPAGE_TOO_HIGH", limit.rule, limit.value, observed) \
        if slippage > Decimal(str(limit.value)) else _pass(limit.rule, limit.value, observed)


def _check_notional(case: _Case) -> Iterator[Verdict]:
    largest, smallest = case.limit("order.max_notional"), case.limit("order.min_notional")
    if not case.sized():
        yield _skip(largest.rule, "no price or quantity")
        return
    assert case.notional is not None and case.price is not None
    if case.notional > largest.value:
        if case.limit("order.resize").value and largest.value > 0:
            original = case.notional
            case.quantity, case.notional = largest.value / case.price, largest.value
            case.notes.append(f"resized from {_text(original)} to {_text(largest.value)} notional")
            yield _pass(largest.rule, largest.value, original, "resized to the limit")
        else:
            yield _fail("NOTIONAL_TOO_LARGE", largest.rule, largest.value, case.notional)
    else:
        yield _pass(largest.rule, largest.value, case.notional)
    yield _fail("NOTIONAL_TOO_SMALL", smallest.rule, smallest.value, case.notional) \
        if case.notional < smallest.value else _pass(smallest.rule, smallest.value, case.notional)


def _exposure_change(case: _Case) -> tuple[Decimal, Decimal]:
    """(|position| in the intent's direction before, after), counting pending entries as filled."""
    snap = case.snap
    assert case.quantity is not None
    before = snap.position_qty + (snap.pending_buy if case.side is Side.BUY else -snap.pending_sell)
    return abs(before), abs(before + case.quantity * case.side.sign)


def _check_position(case: _Case) -> Iterator[Verdict]:
    largest = case.limit("position.max_notional")
    if not case.sized():
        yield _skip(largest.rule, "no price or quantity")
        return
    assert case.price is not None
    before, after = _exposure_change(case)
    value = after * case.price
    yield _fail("POSITION_LIMIT", largest.rule, largest.value, value) \
        if after > before and value > largest.value else _pass(largest.rule, largest.value, value)


def _check_gross(case: _Case) -> Iterator[Verdict]:
    rule, account = case.loaded.policy.account(case.intent.account)
    if account is None or account.max_gross_exposure is None:
        return
    rule = f"{rule}.max_gross_exposure"
    if not case.sized():
        yield _skip(rule, "no price or quantity")
        return
    if case.snap.gross_exposure is None:
        yield _fail("NO_MARKET_DATA", rule, account.max_gross_exposure, "a position without a price")
        return
    assert case.price is not None
    before, after = _exposure_change(case)
    gross = case.snap.gross_exposure + (after - before) * case.price
    # Gross exposure over its limit maps to POSITION_LIMIT: it is the account-wide position limit.
    yield _fail("POSITION_LIMIT", rule, account.max_gross_exposure, gross) \
        if after > before and gross > account.max_gross_exposure else _pass(rule, account.max_gross_exposure, gross)


def _check_open_orders(case: _Case) -> Iterator[Verdict]:
    most = case.limit("position.max_open_orders")
    yield _fail("OPEN_ORDERS_LIMIT", most.rule, most.value, case.snap.open_orders + 1) \
        if case.snap.open_orders >= most.value else _pass(most.rule, most.value, case.snap.open_orders + 1)


def _check_balance(case: _Case) -> Iterator[Verdict]:
    rule = f"balance.{spend_asset(case.intent)}"
    if not case.sized():
        yield _skip(rule, "no price or quantity")
        return
    if case.snap.free_balance is None:
        yield _fail("INSUFFICIENT_BALANCE", rule, "a known balance", "unknown")
        return
    need = case.notional if case.side is Side.BUY else case.quantity
    available = case.snap.free_balance - case.snap.reserved_spend
    yield _fail("INSUFFICIENT_BALANCE", rule, available, need) if need > available else _pass(rule, available, need)


def _check_reduces(case: _Case) -> Iterator[Verdict]:
    """A reducing intent must shrink the position; its quantity is clipped to what is left to close."""
    position, side = case.snap.position_qty, case.side
    closable = max(ZERO, abs(position) - case.snap.pending_reduce) if position * side.sign < 0 else ZERO
    wanted = case.intent.quantity
    if closable <= 0:
        yield _fail("REDUCE_ONLY", "intent.reduce_only", "an open position to reduce", _text(position))
        return
    case.quantity = closable if wanted is None or wanted > closable else wanted
    if case.quantity != wanted:
        case.notes.append(f"reduce-only quantity set to {_text(case.quantity)} (the open position)")
    yield _pass("intent.reduce_only", closable, case.quantity)


def _check_halted_only(case: _Case) -> Iterator[Verdict]:
    rule = f"trading_state.{case.intent.account}"
    yield _fail("TRADING_HALTED", rule, "not HALTED", "HALTED") if case.snap.trading_state == "HALTED" \
        else _pass(rule, "not HALTED", case.snap.trading_state)


_ENTRY_CHECKS: tuple[Check, ...] = (
    _check_halted, _check_breakers, _check_schedule, _check_daily_loss, _check_symbol, _check_signal,
    _check_stop_loss, _check_order_type, _check_market_data, _check_quantity, _check_slippage,
    _check_notional, _check_position, _check_gross, _check_open_orders, _check_balance)
_REDUCING_CHECKS: tuple[Check, ...] = (_check_halted, _check_reduces)


def spend_asset(intent: OrderIntent) -> str:
    """The asset an order locks: quote currency for buys, base currency for sells."""
    base, _, quote = intent.symbol.partition("/")
    return quote if intent.side is Side.BUY else base


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        if value.as_tuple().exponent < -8:     # derived sizes carry 28 digits; 8 decimals tell the story
            value = value.quantize(_SHOWN)
        return format(value.normalize(), "f")
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
