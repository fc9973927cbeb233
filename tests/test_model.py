"""The domain model: positions from fills, the order state machine, client ids."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.execution.client_ids import VALID, client_id
from bot.model import TERMINAL, OrderStatus, Position, Side, can_transition

D = Decimal


def test_position_average_realized_and_flip():
    p = Position("main", "BTC/USDT")
    assert p.apply(Side.BUY, D("1"), D("100")) == 0
    assert p.apply(Side.BUY, D("1"), D("110")) == 0
    assert (p.quantity, p.average_entry) == (D("2"), D("105"))
    assert p.apply(Side.SELL, D("0.5"), D("115")) == D("5")          # (115 - 105) × 0.5
    assert p.unrealized(D("100")) == D("-7.5")
    assert p.apply(Side.SELL, D("2.5"), D("120")) == D("22.5")       # closes 1.5 long, opens 1 short
    assert (p.quantity, p.average_entry, p.realized_pnl) == (D("-1"), D("120"), D("27.5"))
    assert p.apply(Side.BUY, D("1"), D("110")) == D("10")
    assert (p.quantity, p.average_entry) == (D("0"), D("0"))


def test_terminal_states_have_no_way_out():
    for state in TERMINAL:
        assert not any(can_transition(state, other) for other in OrderStatus)
    assert can_transition(OrderStatus.PENDING, OrderStatus.FILLED)      # a fill may beat the ack
    assert not can_transition(OrderStatus.PARTIALLY_FILLED, OrderStatus.OPEN)


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=80), st.text(max_size=20), st.sampled_from(["e", "sl", "t1x2r3", "flat"]))
def test_client_ids_are_valid_deterministic_and_distinct(ref, source, leg):
    cid = client_id("main", source, ref, leg)
    assert VALID.match(cid) and len(cid) <= 36
    assert cid == client_id("main", source, ref, leg)
    assert cid != client_id("main", source, ref + "x", leg)
    assert cid != client_id("other", source, ref, leg)


@pytest.mark.parametrize("ref", ["voc-000123", "demo-6b0125a5-000025"])
def test_client_id_shows_the_signal_id(ref):
    assert client_id("main", "demo", ref, "e").startswith(ref)
