"""Reconciliation: fills missed while the user stream was down, and restarts after a crash at the worst
moments (between persist and send; between send and acknowledgement)."""
from __future__ import annotations

from collections import Counter
from decimal import Decimal

from bot.model import OrderStatus, OrderType, Side


async def test_ws_drop_while_fills_happen_is_recovered_by_reconciliation(harness):
    execution = await harness.start()
    orders = [harness.order(f"w-{i}", order_type=OrderType.LIMIT, price=str(60000 - i * 100), quantity="0.002")
              for i in range(3)]
    for order in orders:
        await execution.place(order)
    assert all(o.status is OrderStatus.OPEN for o in orders)
    await harness.control("POST", "/_sim/ws/drop")
    await harness.price("59000")          # all three fill while the stream is down
    venue = await harness.sim_orders()
    assert all(o["status"] == "FILLED" for o in venue)
    # The stream reconnects and reconciles by itself; the fills arrive over REST.
    await harness.settle(lambda: all(o.status is OrderStatus.FILLED for o in orders))
    await harness.settle(lambda: execution.positions.quantity("main", "BTC/USDT") == harness.venue_position(venue))
    assert harness.store.count_fills() == 3


async def test_crash_between_persist_and_send(harness):
    execution = await harness.start()
    order = harness.order("k-1")
    execution.ledger.create(order)        # committed, then the process dies before the request
    await harness.restart()
    stored = harness.store.get_order(order.id)
    assert stored.status is OrderStatus.PENDING   # first lookups say "not found"; one is not proof
    for _ in range(3):
        await harness.execution.tracker.reconcile("main")
    stored = harness.store.get_order(order.id)
    assert stored.status is OrderStatus.EXPIRED and "never reached the venue" in stored.error
    assert not [o for o in await harness.sim_orders() if o["clientOrderId"] == order.client_id]


async def test_crash_between_send_and_acknowledgement(harness):
    execution = await harness.start()
    order = harness.order("k-2", quantity="0.003")
    execution.ledger.create(order)
    # The request reaches the venue, the process dies before it reads the answer.
    await harness.venue.create_order(client_id=order.client_id, symbol=order.symbol, side=order.side,
                                     order_type=order.order_type, quantity=order.quantity)
    await harness.restart()               # start-up reconciliation runs before start() returns
    stored = harness.store.get_order(order.id)
    assert stored.status is OrderStatus.FILLED and stored.venue_order_id
    venue = await harness.sim_orders()
    assert Counter(o["clientOrderId"] for o in venue)[order.client_id] == 1
    assert harness.execution.positions.quantity("main", "BTC/USDT") == harness.venue_position(venue)
    assert harness.store.count_fills() >= 1


async def test_unknown_venue_orders_are_reported_and_left_alone(harness):
    await harness.start()
    foreign = await harness.venue.create_order(client_id="someone-else-1", symbol="BTC/USDT", side=Side.BUY,
                                               order_type=OrderType.LIMIT, quantity=Decimal("0.001"),
                                               price=Decimal("50000"))
    report = await harness.execution.tracker.reconcile("main")
    assert report.unknown_venue_orders == [f"BTC/USDT:{foreign.venue_order_id}"]
    assert "UNKNOWN_VENUE_ORDER" in harness.error_codes()
    still_open = [o for o in await harness.sim_orders() if o["clientOrderId"] == "someone-else-1"]
    assert still_open[0]["status"] == "NEW"


async def test_crash_after_a_tranche_was_begun_but_before_its_legs_were_sent(harness):
    execution = await harness.start()
    # The entry fills, protection records its tranche, then the process dies before any leg is created.
    execution.protection.protect = _never                      # no legs in this life
    entry = harness.order("k-3", quantity="0.01", stop_loss="65000", take_profit=(("69000", "1"),))
    await execution.place(entry)
    harness.store.put_json(f"protection:{entry.id}", {"tranches": [{"n": 1, "quantity": "0.01"}],
                                                      "failed": False, "flattened": False})
    await harness.restart()
    await harness.execution.protection.drain()                 # legs are checked behind readiness
    legs = harness.legs(entry)
    assert {leg.leg.value for leg in legs} == {"sl", "tp"}
    assert all(leg.quantity == Decimal("0.01") and not leg.status.terminal for leg in legs)
    await harness.restart()                                   # and again: found by client id, not resent
    await harness.execution.protection.drain()
    assert len(harness.legs(entry)) == 2
    assert Counter(o["clientOrderId"] for o in await harness.sim_orders())[legs[0].client_id] == 1


async def _never(*args, **kwargs):
    return None
