"""Breakers trip by themselves, cool down on the (simulated) clock, and recover through one probe."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import yaml

from bot.policy.breakers import CLOSED, HALF_OPEN, OPEN, Breaker, TripRule

from .conftest import BASE, D, Rig, intent, make_rig, merge, signal


def state_of(rig: Rig, name: str) -> str:
    return {b["name"]: b["state"] for b in rig.gate.breakers()}[name]


def fresh_signal(rig: Rig, signal_id: str):
    return signal(id=signal_id, generated_at=datetime.fromtimestamp(rig.clock() - 1, timezone.utc))


def test_source_breaker_trips_on_consecutive_losses_and_recovers_through_a_probe(rig: Rig) -> None:
    for _ in range(2):
        rig.gate.record_closed_trade("demo", D("-10"))
    assert state_of(rig, "source:demo") == CLOSED
    rig.gate.record_closed_trade("demo", D("-10"))                       # the third loss in a row
    assert state_of(rig, "source:demo") == OPEN
    assert rig.gate.evaluate(intent(), fresh_signal(rig, "a"), key="a").code == "BREAKER_OPEN"
    assert rig.gate.evaluate(intent(), key="api").accepted                 # API orders have no source
    rig.gate.release("api")

    rig.clock.advance(7199)
    assert state_of(rig, "source:demo") == OPEN
    rig.clock.advance(1)                                                  # the 2h cool-down is over
    assert state_of(rig, "source:demo") == HALF_OPEN
    probe = fresh_signal(rig, "probe")
    assert rig.gate.evaluate(intent(tag="tp1"), probe, key="p1").accepted
    assert rig.gate.evaluate(intent(tag="tp2"), probe, key="p2").accepted  # the same signal's other intents
    assert rig.gate.evaluate(intent(), fresh_signal(rig, "b"), key="b").code == "BREAKER_OPEN"
    rig.gate.record_closed_trade("demo", D("25"))                          # the probe won
    assert state_of(rig, "source:demo") == CLOSED
    assert rig.gate.evaluate(intent(), fresh_signal(rig, "c"), key="c").accepted

    changes = [(p["previous"], p["state"]) for kind, p in rig.events if kind == "breaker.changed"]
    assert changes == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]


def test_source_breaker_trips_on_a_low_win_rate_over_its_window() -> None:
    rig = make_rig({"sources": {"demo": {"breaker": {"max_consecutive_losses": 10}}}})
    for pnl in [1, -1, -1, -1, -1, 1, -1, -1, -1]:
        rig.gate.record_closed_trade("demo", D(pnl))
    assert state_of(rig, "source:demo") == CLOSED                         # fewer than `window` trades so far
    rig.gate.record_closed_trade("demo", D(-1))                           # 2 wins in 10: 0.20 < 0.30
    assert state_of(rig, "source:demo") == OPEN
    assert "win rate 0.20" in rig.gate.breakers()[0]["reason"]


def test_failed_probe_opens_the_breaker_again(rig: Rig) -> None:
    for _ in range(3):
        rig.gate.record_closed_trade("demo", D("-1"))
    rig.clock.advance(7200)
    assert state_of(rig, "source:demo") == HALF_OPEN
    rig.gate.record_closed_trade("demo", D("-1"))
    assert state_of(rig, "source:demo") == OPEN


def test_venue_breaker_trips_on_a_burst_of_failures_and_recovers_via_half_open(rig: Rig) -> None:
    for _ in range(3):
        rig.gate.record_venue_result("main", ok=False)
    assert state_of(rig, "venue:main") == OPEN
    assert rig.gate.evaluate(intent(), key="a").code == "BREAKER_OPEN"
    rig.clock.advance(30)
    assert state_of(rig, "venue:main") == HALF_OPEN
    assert rig.gate.evaluate(intent(), key="probe").accepted              # exactly one probe
    assert rig.gate.evaluate(intent(), key="second").code == "BREAKER_OPEN"
    rig.gate.record_venue_result("main", ok=True)
    assert state_of(rig, "venue:main") == CLOSED
    assert rig.gate.evaluate(intent(), key="second").accepted


def test_venue_breaker_trips_on_its_failure_rate_within_the_window(rig: Rig) -> None:
    for ok in [True, False, True, False, False, True, False]:             # 4 of 7 failed, never 3 in a row
        rig.gate.record_venue_result("main", ok=ok)
    assert state_of(rig, "venue:main") == OPEN
    assert "success rate 0.43" in {b["name"]: b for b in rig.gate.breakers()}["venue:main"]["reason"]


def test_venue_failures_outside_the_window_are_forgotten(rig: Rig) -> None:
    for ok in [False, False, True, True, True, True]:
        rig.gate.record_venue_result("main", ok=ok)
        rig.clock.advance(20)                                             # the 60 s window keeps 3 of them
    rig.gate.record_venue_result("main", ok=False)
    assert state_of(rig, "venue:main") == CLOSED


def test_a_probe_that_never_reports_does_not_wedge_the_breaker(rig: Rig) -> None:
    for _ in range(3):
        rig.gate.record_venue_result("main", ok=False)
    rig.clock.advance(30)
    assert rig.gate.evaluate(intent(), key="lost-probe").accepted
    assert rig.gate.evaluate(intent(), key="b").code == "BREAKER_OPEN"
    rig.clock.advance(30)                                                 # another cool-down: a new probe
    assert rig.gate.evaluate(intent(), key="b").accepted


def test_strategy_breaker_gates_the_handler_and_allows_one_probe(rig: Rig) -> None:
    assert rig.gate.strategy_allowed("follow")
    rig.gate.record_strategy_result("follow", ok=False)
    rig.gate.record_strategy_result("follow", ok=False)
    assert not rig.gate.strategy_allowed("follow")
    rig.clock.advance(300)
    assert rig.gate.strategy_allowed("follow")                            # the probe
    assert not rig.gate.strategy_allowed("follow")
    rig.gate.record_strategy_result("follow", ok=True)
    assert rig.gate.strategy_allowed("follow") and rig.gate.strategy_allowed("follow")


def test_operator_reset_closes_a_breaker(rig: Rig) -> None:
    for _ in range(3):
        rig.gate.record_venue_result("main", ok=False)
    assert rig.gate.reset_breaker("venue:main")
    assert state_of(rig, "venue:main") == CLOSED
    assert not rig.gate.reset_breaker("venue:nowhere")


def test_reload_keeps_breaker_state_and_applies_new_rules(tmp_path: Path) -> None:
    rig = make_rig()
    for _ in range(3):
        rig.gate.record_closed_trade("demo", D("-1"))
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(merge(BASE, {"sources": {"demo": {"breaker": {"cooldown": "1m"}}}})))
    rig.gate.reload(path)
    assert state_of(rig, "source:demo") == OPEN
    rig.clock.advance(60)
    assert state_of(rig, "source:demo") == HALF_OPEN


def test_breaker_dump_round_trips() -> None:
    rule = TripRule(consecutive=2, min_success=0.5, min_samples=4, cooldown=10, window_count=4)
    breaker = Breaker("source:x", "source", rule)
    breaker.record(False, 1.0)
    copy = Breaker("source:x", "source", rule)
    copy.load(breaker.dump())
    assert copy.dump() == breaker.dump()
    assert copy.record(False, 2.0) and copy.state == OPEN


def test_a_breaker_without_a_window_keeps_no_history() -> None:
    from bot.policy.breakers import Breaker, TripRule

    breaker = Breaker("strategy:s", "strategy", TripRule(consecutive=3, min_success=0.0, min_samples=1, cooldown=1.0))
    for i in range(1000):
        breaker.record(True, float(i))
    assert len(breaker.outcomes) == 0 and breaker.state == "CLOSED"
    for i in range(3):
        breaker.record(False, 2000.0 + i)
    assert breaker.state == "OPEN"
