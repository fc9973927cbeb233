"""Exactly-once submits against the simulator's fault injection, through the real ccxt connector."""
from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal

from bot.model import OrderStatus, OrderType, Side


async def test_persisted_before_sent_and_acknowledged(harness):
    execution = await harness.start()
    order = harness.order("s-1")
    task = execution.place(order)
    # Persisted (and committed) before the first byte goes out: a fresh connection sees it.
    stored = harness.store.get_order(order.id)
    assert stored is not None and stored.status is OrderStatus.PENDING
    await task
    assert order.status is OrderStatus.FILLED
    venue_orders = [o for o in await harness.sim_orders() if o["clientOrderId"] == order.client_id]
    assert len(venue_orders) == 1
    kinds = [e["kind"] for e in harness.store.order_events(order.id)]
    assert kinds[0] == "created" and "acknowledged" in kinds


async def test_same_client_id_is_never_sent_twice(harness):
    execution = await harness.start()
    first = harness.order("dup-1")
    await execution.place(first)
    again = harness.order("dup-1")
    assert again.client_id == first.client_id
    assert execution.ledger.find("main", client_id=again.client_id) is not None
    # The store refuses a second row with the same client id: the order cannot be created twice.
    try:
        execution.place(again)
    except Exception as exc:  # sqlite3.IntegrityError
        assert "UNIQUE" in str(exc)
    else:
        raise AssertionError("a second order with the same client id was accepted")
    assert sum(o["clientOrderId"] == first.client_id for o in await harness.sim_orders()) == 1


async def test_timeout_after_accept_gives_exactly_one_order_tracked_to_its_fill(harness):
    execution = await harness.start()
    await harness.faults({"match": "POST /api/v3/order", "fault": "timeout_after_accept", "count": 1})
    order = harness.order("t-1")
    await execution.place(order)
    assert order.status is OrderStatus.FILLED, order
    at_venue = [o for o in await harness.sim_orders() if o["clientOrderId"] == order.client_id]
    assert len(at_venue) == 1
    kinds = [e["kind"] for e in harness.store.order_events(order.id)]
    assert "unknown_outcome" in kinds and "resolved" in kinds and "resend" not in kinds
    await harness.settle(lambda: execution.positions.quantity("main", "BTC/USDT") == Decimal("0.01"))


async def test_timeout_before_accept_is_resent_only_after_proof_of_absence(harness):
    execution = await harness.start()
    await harness.faults({"match": "POST /api/v3/order", "fault": "timeout_before_accept", "count": 1})
    order = harness.order("t-2")
    await execution.place(order)
    assert order.status is OrderStatus.FILLED
    kinds = [e["kind"] for e in harness.store.order_events(order.id)]
    assert kinds.count("not_found") >= 3 and "resend" in kinds
    assert sum(o["clientOrderId"] == order.client_id for o in await harness.sim_orders()) == 1


async def test_error_bursts_leave_no_duplicates_and_no_untracked_orders(harness):
    execution = await harness.start()
    await harness.faults(
        {"match": "POST /api/v3/order", "fault": "http_500", "rate": 0.3},
        {"match": "POST /api/v3/order", "fault": "http_503", "rate": 0.2},
        {"match": "POST /api/v3/order", "fault": "http_429", "rate": 0.2},
        {"match": "POST /api/v3/order", "fault": "timeout_after_accept", "rate": 0.1, "count": 2})
    orders = [harness.order(f"b-{i}", side=Side.BUY if i % 2 else Side.SELL, quantity="0.001") for i in range(12)]
    await asyncio.gather(*(execution.place(o) for o in orders))
    await harness.control("DELETE", "/_sim/faults")
    await execution.tracker.reconcile("main")
    venue = await harness.sim_orders()
    per_client = Counter(o["clientOrderId"] for o in venue)
    assert all(count == 1 for count in per_client.values()), per_client
    known = {o.client_id for o in orders}
    assert set(per_client) <= known, "the venue holds an order the daemon does not know"
    for order in orders:
        stored = harness.store.get_order(order.id)
        assert stored.status.terminal, (order.client_id, stored.status)
        assert (stored.status is OrderStatus.FILLED) == (order.client_id in per_client)


async def test_rejection_is_terminal_with_the_venue_reason(harness):
    execution = await harness.start()
    order = harness.order("r-1", quantity="1.6")     # about 107k USDT: more than the account holds
    await execution.place(order)
    assert order.status is OrderStatus.REJECTED
    assert order.error and order.error.startswith("INSUFFICIENT_BALANCE")


async def test_illegal_transition_is_refused_and_logged(harness):
    execution = await harness.start()
    order = harness.order("i-1")
    await execution.place(order)
    assert order.status is OrderStatus.FILLED
    assert not execution.ledger.transition(order, OrderStatus.OPEN, "test")
    assert order.status is OrderStatus.FILLED
    assert harness.store.get_order(order.id).status is OrderStatus.FILLED
    assert harness.store.order_events(order.id)[-1]["kind"] == "refused"


async def test_limit_order_rests_and_fills_over_the_stream(harness):
    execution = await harness.start()
    order = harness.order("l-1", order_type=OrderType.LIMIT, price="60000")
    await execution.place(order)
    assert order.status is OrderStatus.OPEN
    await harness.price("59000")
    await harness.settle(lambda: order.status is OrderStatus.FILLED)
    await harness.settle(lambda: execution.positions.quantity("main", "BTC/USDT") == Decimal("0.01"))


async def test_stale_resting_entries_are_cancelled(harness):
    execution = await harness.start()
    order = harness.order("x-1", order_type=OrderType.LIMIT, price="60000")
    await execution.place(order)
    assert await execution.expire_stale(3600) == 0
    assert await execution.expire_stale(0) == 1
    assert order.status is OrderStatus.CANCELED
