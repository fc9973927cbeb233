"""Protective legs through the real connector: native OCO and emulated one-cancels-other, partial fills,
and the flatten that follows a leg the venue will not take."""
from __future__ import annotations

from decimal import Decimal

import pytest

from bot.model import Leg, OrderStatus, OrderType, Side

from .conftest import Harness


def _harness(sim, tmp_path, **kwargs) -> Harness:
    return Harness(sim, tmp_path / "tradewire.db", **kwargs)


@pytest.fixture(params=["auto", "separate"], ids=["native-oco", "emulated-oco"])
async def protected(request, sim, tmp_path):
    h = _harness(sim, tmp_path, mode=request.param)
    yield h
    await h.stop()


async def test_entry_fill_places_legs_for_the_filled_quantity(protected):
    execution = await protected.start()
    entry = protected.order("p-1", quantity="0.01", stop_loss="65000", take_profit=(("69000", "1"),))
    await execution.place(entry)
    assert entry.status is OrderStatus.FILLED
    await protected.settle(lambda: len([l for l in protected.legs(entry) if l.status is OrderStatus.OPEN]) == 2)
    legs = protected.legs(entry)
    assert {l.leg for l in legs} == {Leg.STOP_LOSS, Leg.TAKE_PROFIT}
    assert all(l.quantity == Decimal("0.01") and l.side is Side.SELL for l in legs)
    venue_types = {o["type"] for o in await protected.sim_orders() if o["clientOrderId"] in {l.client_id for l in legs}}
    expected = {"LIMIT_MAKER", "STOP_LOSS_LIMIT"} if protected.mode == "auto" else {"LIMIT", "STOP_LOSS_LIMIT"}
    assert venue_types == expected


async def test_take_profit_fill_cancels_the_stop(protected):
    execution = await protected.start()
    entry = protected.order("p-2", quantity="0.01", stop_loss="65000", take_profit=(("69000", "1"),))
    await execution.place(entry)
    await protected.settle(lambda: len([l for l in protected.legs(entry) if l.status is OrderStatus.OPEN]) == 2)
    await protected.price("69500")
    stop = next(l for l in protected.legs(entry) if l.leg is Leg.STOP_LOSS)
    take = next(l for l in protected.legs(entry) if l.leg is Leg.TAKE_PROFIT)
    await protected.settle(lambda: protected.store.get_order(take.id).status is OrderStatus.FILLED)
    await protected.settle(lambda: protected.store.get_order(stop.id).status in (OrderStatus.CANCELED,
                                                                                 OrderStatus.EXPIRED))
    await protected.settle(lambda: execution.positions.quantity("main", "BTC/USDT") == 0)


async def test_partial_entry_fills_are_protected_as_they_fill(protected):
    # Separate legs each lock the base asset (only a native OCO shares one lock): hold enough for both.
    await protected.control("POST", "/_sim/balances", {"BTC": "5", "USDT": "100000"})
    execution = await protected.start()
    # A marketable limit larger than the best level: part fills at once, the rest rests on the book.
    entry = protected.order("p-3", quantity="1", order_type=OrderType.LIMIT, price="67007",
                            stop_loss="64000", take_profit=(("69000", "1"),))
    await execution.place(entry)
    assert entry.status is OrderStatus.PARTIALLY_FILLED
    first = entry.filled
    assert 0 < first < 1
    await protected.settle(lambda: sum(l.quantity for l in protected.legs(entry) if l.leg is Leg.STOP_LOSS) == first)
    await protected.price("66900")        # the market comes down through the resting remainder
    await protected.settle(lambda: entry.status is OrderStatus.FILLED)
    await protected.settle(lambda: sum(l.quantity for l in protected.legs(entry) if l.leg is Leg.STOP_LOSS)
                           == Decimal("1"))
    await protected.settle(lambda: [l.status for l in protected.legs(entry) if l.leg is Leg.STOP_LOSS]
                           == [OrderStatus.OPEN, OrderStatus.OPEN])


@pytest.mark.parametrize("mode", ["auto", "separate"], ids=["native-oco", "emulated-oco"])
async def test_rejected_stop_leg_flattens_the_position(sim, tmp_path, mode):
    h = _harness(sim, tmp_path, mode=mode, on_leg_failure="flatten", leg_retries=2)
    try:
        execution = await h.start()
        await h.faults({"match": "POST /api/v3/*", "fault": "reject", "order_type": "STOP_LOSS_LIMIT"})
        entry = h.order("f-1", quantity="0.01", stop_loss="65000", take_profit=(("69000", "1"),))
        await execution.place(entry)
        await h.settle(lambda: any(kind == "position.flattened" for kind, _ in h.events))
        assert "POSITION_UNPROTECTED" in h.error_codes()
        await h.settle(lambda: execution.positions.quantity("main", "BTC/USDT") == 0)
        flatten = [o for o in h.store.children(entry.id) if o.leg is Leg.FLATTEN]
        assert len(flatten) == 1 and flatten[0].order_type is OrderType.MARKET
        assert flatten[0].status is OrderStatus.FILLED and flatten[0].quantity == Decimal("0.01")
        # Every attempt was made (1 + leg_retries) and nothing protective is left open at the venue.
        rejected_stops = [o for o in h.store.children(entry.id) if o.leg is Leg.STOP_LOSS]
        assert len(rejected_stops) == 3 and all(o.status is OrderStatus.REJECTED for o in rejected_stops)
        open_at_venue = [o for o in await h.sim_orders() if o["status"] in ("NEW", "PARTIALLY_FILLED")]
        assert open_at_venue == []
    finally:
        await h.stop()


async def test_on_leg_failure_alert_keeps_the_position_and_says_so(sim, tmp_path):
    h = _harness(sim, tmp_path, mode="separate", on_leg_failure="alert", leg_retries=0)
    try:
        execution = await h.start()
        await h.faults({"match": "POST /api/v3/order", "fault": "reject", "order_type": "STOP_LOSS_LIMIT"})
        entry = h.order("f-2", quantity="0.01", stop_loss="65000")
        await execution.place(entry)
        await h.settle(lambda: "POSITION_UNPROTECTED" in h.error_codes())
        await execution.protection.drain()
        assert not any(kind == "position.flattened" for kind, _ in h.events)
        assert execution.positions.quantity("main", "BTC/USDT") == Decimal("0.01")
    finally:
        await h.stop()


async def test_closing_order_cancels_the_legs_and_exits(protected):
    execution = await protected.start()
    entry = protected.order("c-1", quantity="0.01", stop_loss="65000", take_profit=(("69000", "1"),))
    await execution.place(entry)
    await protected.settle(lambda: len([l for l in protected.legs(entry) if l.status is OrderStatus.OPEN]) == 2)
    close = protected.order("c-2", side=Side.SELL, quantity="0.01")
    close.leg = Leg.EXIT
    await execution.place(close)
    assert close.status is OrderStatus.FILLED
    assert all(l.status in (OrderStatus.CANCELED, OrderStatus.EXPIRED) for l in protected.legs(entry))
    await protected.settle(lambda: execution.positions.quantity("main", "BTC/USDT") == 0)


async def test_opposite_entries_net_out_and_legs_follow_the_position(protected):
    execution = await protected.start()
    long = protected.order("n-1", quantity="0.01", stop_loss="65000", take_profit=(("69000", "1"),))
    await execution.place(long)
    await protected.settle(lambda: len([l for l in protected.legs(long) if l.status is OrderStatus.OPEN]) == 2)
    short = protected.order("n-2", side=Side.SELL, quantity="0.02", stop_loss="69000",
                            take_profit=(("65000", "1"),))
    await execution.place(short)
    await execution.protection.drain()
    position = execution.positions.quantity("main", "BTC/USDT")
    assert position == Decimal("-0.01")

    def live_legs():
        return [o for o in execution.ledger.live.values() if o.leg in (Leg.STOP_LOSS, Leg.TAKE_PROFIT)]

    await protected.settle(lambda: all(l.side is Side.BUY for l in live_legs()))
    for kind in (Leg.STOP_LOSS, Leg.TAKE_PROFIT):
        total = sum((l.remaining for l in live_legs() if l.leg is kind), Decimal(0))
        assert total <= abs(position), (kind, total)
    stop_cover = sum((l.remaining for l in live_legs() if l.leg is Leg.STOP_LOSS), Decimal(0))
    assert stop_cover == abs(position)
    # What the venue holds open is what we think is open: nothing on the side that would grow the short.
    venue_open = [o for o in await protected.sim_orders() if o["status"] == "NEW"]
    assert all(o["side"] == "BUY" for o in venue_open)
