"""Properties: limits hold over any sequence of decisions, missing data always rejects, decide is pure."""
from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.model import OrderIntent, OrderType, Side
from bot.policy import Quote, decide, explain

from .conftest import NOW, D, intent, make_policy, make_rig, quote, signal, snapshot

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
LIMITS = {"defaults": {"order": {"max_notional": "800", "min_notional": "10"},
                       "position": {"max_notional": "2000", "max_open_orders": 3},
                       "protection": {"require_stop_loss": False}},
          "symbols": {"overrides": {}},
          "accounts": {"main": {"max_gross_exposure": "3000"}}}
SYMBOLS = ("ETH/USDT", "SOL/USDT")

quantities = st.integers(min_value=1, max_value=1200).map(lambda n: Decimal(n) / 100)
entries = st.builds(
    lambda symbol, side, qty, by_notional: OrderIntent(
        account="main", symbol=symbol, side=side, order_type=OrderType.MARKET,
        quantity=None if by_notional else qty, notional=qty * 100 if by_notional else None),
    st.sampled_from(SYMBOLS), st.sampled_from(Side), quantities, st.booleans())
steps = st.lists(st.one_of(entries.map(lambda i: ("evaluate", i)),
                           st.integers(min_value=0, max_value=30).map(lambda n: ("release", n))),
                 min_size=1, max_size=40)


@SETTINGS
@given(steps)
def test_no_sequence_of_accepted_intents_exceeds_a_limit(ops: list) -> None:
    rig = make_rig(LIMITS)
    rig.accounts.balances.update({"USDT": D("2500"), "ETH": D("15"), "SOL": D("15")})
    accepted: dict[str, OrderIntent] = {}
    for n, (op, arg) in enumerate(ops):
        if op == "release":
            key = f"k{arg}"
            rig.gate.release(key)
            accepted.pop(key, None)
            continue
        decision = rig.gate.evaluate(arg, key=f"k{n}")
        if not decision.accepted:
            continue
        sent = decision.intent
        accepted[f"k{n}"] = sent
        assert Decimal(10) <= sent.quantity * sent.price <= Decimal(800)
        notional = {key: i.quantity * i.price for key, i in accepted.items()}
        assert sum(notional.values()) <= 3000                                          # gross exposure
        assert sum(notional[k] for k, i in accepted.items() if i.side is Side.BUY) <= 2500   # USDT balance
        for symbol in SYMBOLS:
            mine = {k: i for k, i in accepted.items() if i.symbol == symbol}
            assert len(mine) <= 3                                                      # open orders
            for side in Side:
                assert sum(notional[k] for k, i in mine.items() if i.side is side) <= 2000   # position
            assert sum(i.quantity for i in mine.values() if i.side is Side.SELL) <= 15      # base balance


any_intent = st.builds(
    lambda side, order_type, qty, reduce: intent(side=side, order_type=order_type, quantity=qty,
                                                 price=None if order_type is OrderType.MARKET else D("100"),
                                                 reduce_only=reduce),
    st.sampled_from(Side), st.sampled_from([OrderType.MARKET, OrderType.LIMIT]), quantities, st.just(False))


HOLES = {"quote": ({"quote": None}, "NO_MARKET_DATA"),
         "bid": ({"quote": Quote(None, D("100"), D("100"), NOW)}, "NO_MARKET_DATA"),
         "stale quote": ({"quote": quote(ts=NOW - 3600)}, "NO_MARKET_DATA"),
         "balance": ({"free_balance": None}, "INSUFFICIENT_BALANCE"),
         "gross": ({"gross_exposure": None}, "NO_MARKET_DATA")}


@SETTINGS
@given(any_intent, st.sampled_from(sorted(HOLES)))
def test_any_missing_input_rejects_an_entry(entry: OrderIntent, missing: str) -> None:
    hole, code = HOLES[missing]
    result = explain(entry, snapshot(**hole), make_policy())
    assert not result.decision.accepted
    assert code in {v.code for v in result.verdicts if v.outcome == "fail"}


snapshots = st.builds(
    lambda position, pending, open_orders, pnl, state, with_signal: snapshot(
        position_qty=position, pending_buy=pending, open_orders=open_orders, realized_pnl_today=pnl,
        trading_state=state, signal=signal() if with_signal else None),
    quantities.map(lambda q: q - 6), quantities, st.integers(0, 6), quantities.map(lambda q: -q * 50),
    st.sampled_from(["ACTIVE", "REDUCE_ONLY", "HALTED"]), st.booleans())


@SETTINGS
@given(any_intent, snapshots, st.booleans())
def test_decide_is_a_pure_function(entry: OrderIntent, snap, reduce: bool) -> None:
    entry = entry.with_(reduce_only=reduce)
    policy = make_policy()
    first = decide(entry, snap, policy)
    assert decide(entry, snap, policy) == first
    assert decide(entry, snap, make_policy()) == first                 # a fresh policy: a cold limits cache
    assert explain(entry, snap, policy).decision == first
