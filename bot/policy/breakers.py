"""Circuit breakers: CLOSED → OPEN → HALF_OPEN (one probe) → CLOSED, per venue, signal source and strategy.

A breaker counts outcomes (venue calls, closed trades, handler runs) and trips by itself when a
``TripRule`` says so: too many failures in a row, or too low a success share over a window (a time window
for venues, the last N closed trades for sources). After its cool-down it lets exactly one probe through;
the probe's outcome closes it or opens it again. A probe that never reports (an order that never fills)
does not wedge the breaker: after another cool-down the next caller may probe.

Time always comes from the caller, so tests drive breakers with a simulated clock.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from bot.policy.schema import Policy

CLOSED, OPEN, HALF_OPEN = "CLOSED", "OPEN", "HALF_OPEN"


@dataclass(frozen=True)
class TripRule:
    consecutive: int                     # failures in a row that trip
    min_success: float                   # trips when the success share over the window falls below this
    min_samples: int                     # outcomes needed before the share is judged
    cooldown: float                      # seconds OPEN before a probe is let through
    window_seconds: float | None = None  # the share is over outcomes this recent...
    window_count: int | None = None      # ...or over this many latest outcomes
    failure_word: str = "failures"       # for reasons: "losses" for sources


def rule_for(policy: Policy, kind: str, name: str) -> TripRule | None:
    """The policy's trip rule for a breaker; None = no breaker configured for that name."""
    if kind == "venue":
        venue = policy.venue(name)[1]
        if venue is None:
            return None
        b = venue.breaker
        return TripRule(b.consecutive_failures, 1 - b.failure_rate, b.min_calls, b.cooldown, window_seconds=b.window)
    if kind == "source":
        source = policy.source(name)[1]
        if source is None or source.breaker is None:
            return None
        s = source.breaker
        return TripRule(s.max_consecutive_losses, s.min_win_rate, s.window, s.cooldown, window_count=s.window,
                        failure_word="losses")
    strategy = policy.strategy(name)[1]
    if strategy is None:
        return None
    return TripRule(strategy.breaker.consecutive_failures, 0.0, 1, strategy.breaker.cooldown)


@dataclass
class Breaker:
    name: str                            # "<kind>:<name>", e.g. source:demo
    kind: str
    rule: TripRule
    state: str = CLOSED
    since: float = 0.0
    reason: str = ""
    probe_at: float | None = None        # when HALF_OPEN's probe went out
    probe_token: str | None = None       # the same token (one signal's several intents) may pass again
    streak: int = 0                      # failures in a row
    outcomes: deque[tuple[float, bool]] = field(default_factory=deque)
    successes: int = 0                   # ok outcomes in ``outcomes``, kept as they come and go (O(1) checks)

    # -- transitions; each returns True when the state changed ------------------------------------------

    def refresh(self, now: float) -> bool:
        if self.state == OPEN and now - self.since >= self.rule.cooldown:
            return self._move(HALF_OPEN, now, "cool-down over, waiting for a probe")
        return False

    def blocked(self, now: float, token: str | None = None) -> bool:
        if self.state == OPEN:
            return True
        if self.state == HALF_OPEN and self.probe_at is not None:
            same_probe = token is not None and token == self.probe_token
            lease_over = now - self.probe_at >= self.rule.cooldown
            return not (same_probe or lease_over)
        return False

    def take_probe(self, now: float, token: str | None = None) -> None:
        if self.state == HALF_OPEN and (self.probe_at is None or token != self.probe_token):
            self.probe_at, self.probe_token = now, token

    def record(self, ok: bool, now: float) -> bool:
        if self.state == HALF_OPEN:
            return self._move(CLOSED, now, "probe succeeded") if ok else self._move(OPEN, now, "probe failed")
        if self.state == OPEN:
            return False                 # outcomes of calls made before the trip say nothing new
        if self.rule.window_seconds is not None or self.rule.window_count is not None:
            # Only a windowed rule judges a success share; without a window, history would just grow.
            self.outcomes.append((now, ok))
            self.successes += ok
            self._prune(now)
        self.streak = 0 if ok else self.streak + 1
        reason = self._trip_reason()
        return self._move(OPEN, now, reason) if reason else False

    def reset(self, now: float) -> bool:
        return self._move(CLOSED, now, "reset by operator")

    # -- internals ----------------------------------------------------------------------------------------

    def _trip_reason(self) -> str | None:
        rule = self.rule
        if self.streak >= rule.consecutive:
            return f"{self.streak} {rule.failure_word} in a row (limit {rule.consecutive})"
        if len(self.outcomes) >= rule.min_samples:
            share = self.successes / len(self.outcomes)
            if share < rule.min_success:
                what = "win rate" if rule.failure_word == "losses" else "success rate"
                return f"{what} {share:.2f} below {rule.min_success:.2f} over the last {len(self.outcomes)}"
        return None

    def _prune(self, now: float) -> None:
        if self.rule.window_seconds is not None:
            while self.outcomes and now - self.outcomes[0][0] > self.rule.window_seconds:
                self.successes -= self.outcomes.popleft()[1]
        if self.rule.window_count is not None:
            while len(self.outcomes) > self.rule.window_count:
                self.successes -= self.outcomes.popleft()[1]

    def _move(self, state: str, now: float, reason: str) -> bool:
        changed = state != self.state
        self.state, self.since, self.reason = state, now, reason
        self.probe_at = self.probe_token = None
        if state != HALF_OPEN:           # a fresh start after a trip or a recovery
            self.outcomes.clear()
            self.successes = self.streak = 0
        return changed

    def view(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "state": self.state, "since": self.since,
                "reason": self.reason}

    def dump(self) -> dict[str, Any]:
        return {**self.view(), "probe_at": self.probe_at, "probe_token": self.probe_token, "streak": self.streak,
                "outcomes": [[ts, ok] for ts, ok in self.outcomes]}

    def load(self, data: dict[str, Any]) -> None:
        self.state, self.since, self.reason = data["state"], float(data["since"]), data.get("reason", "")
        self.probe_at, self.probe_token = data.get("probe_at"), data.get("probe_token")
        self.streak = int(data.get("streak", 0))
        self.outcomes = deque((float(ts), bool(ok)) for ts, ok in data.get("outcomes", []))
        self.successes = sum(ok for _, ok in self.outcomes)


class BreakerBoard:
    """All breakers, created on first use from the policy's rules; ``emit`` hears every state change."""

    def __init__(self, policy: Policy, emit: Callable[[Breaker, str], None]):
        self._breakers: dict[str, Breaker] = {}
        self._emit = emit
        self.apply_policy(policy)

    def apply_policy(self, policy: Policy) -> None:
        """New rules for existing breakers (their state survives a reload); breakers for newly named entries."""
        self._policy = policy
        for breaker in list(self._breakers.values()):
            rule = rule_for(policy, breaker.kind, breaker.name.partition(":")[2])
            if rule is None:
                del self._breakers[breaker.name]
            else:
                breaker.rule = rule
        for kind, table in (("venue", policy.venues), ("source", policy.sources), ("strategy", policy.strategies)):
            for name in table:
                if name != "default":
                    self.get(kind, name)

    def get(self, kind: str, name: str) -> Breaker | None:
        key = f"{kind}:{name}"
        breaker = self._breakers.get(key)
        if breaker is None:
            rule = rule_for(self._policy, kind, name)
            if rule is None:
                return None
            breaker = self._breakers[key] = Breaker(key, kind, rule)
        return breaker

    def by_name(self, name: str) -> Breaker | None:
        return self._breakers.get(name)

    def all(self) -> list[Breaker]:
        return sorted(self._breakers.values(), key=lambda b: b.name)

    def refresh(self, now: float) -> None:
        for breaker in list(self._breakers.values()):
            self._apply(breaker, lambda: breaker.refresh(now))

    def record(self, breaker: Breaker | None, ok: bool, now: float) -> None:
        if breaker is not None:
            self._apply(breaker, lambda: breaker.record(ok, now))

    def reset(self, breaker: Breaker, now: float) -> None:
        self._apply(breaker, lambda: breaker.reset(now))

    def _apply(self, breaker: Breaker, transition: Callable[[], bool]) -> None:
        before = breaker.state
        if transition():
            self._emit(breaker, before)

    def dump(self) -> list[dict[str, Any]]:
        return [breaker.dump() for breaker in self.all()]

    def load(self, items: list[dict[str, Any]]) -> None:
        for item in items:
            breaker = self.get(item["kind"], item["name"].partition(":")[2])
            if breaker is not None:      # a breaker the current policy no longer has is dropped
                breaker.load(item)
