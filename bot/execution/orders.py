"""The order state machine: every change of an order goes through ``OrderLedger``, which refuses illegal
transitions (logged and recorded as a ``refused`` event, never applied), persists each change with its
event atomically, and publishes ``order.updated``.

Fills are booked here too, deduplicated by (account, trade id), so the websocket and REST reconciliation
can both report the same trade without double counting.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from bot.events import EventBus
from bot.execution.positions import PositionBook
from bot.model import Fill, Order, OrderStatus, can_transition
from bot.store import Store
from bot.venues.base import VenueOrder, VenueTrade

log = logging.getLogger("tradewire.orders")


def order_view(order: Order) -> dict[str, Any]:
    """The order as events and the API show it: decimal strings, enum values."""
    return {
        "id": order.id, "client_id": order.client_id, "venue_order_id": order.venue_order_id,
        "account": order.account, "symbol": order.symbol, "side": order.side.value,
        "order_type": order.order_type.value, "quantity": str(order.quantity), "status": order.status.value,
        "filled_quantity": str(order.filled),
        "average_price": str(order.average_price) if order.average_price is not None else None,
        "price": str(order.price) if order.price is not None else None,
        "stop_price": str(order.stop_price) if order.stop_price is not None else None,
        "leg": order.leg.value, "parent_id": order.parent_id, "signal_key": order.signal_key,
        "error": order.error,
    }


class OrderLedger:
    def __init__(self, store: Store, positions: PositionBook, bus: EventBus):
        self.store = store
        self.positions = positions
        self.bus = bus
        # Callbacks the execution layer hangs its reactions on (protection, policy reservations, strategies).
        self.on_change: list[Callable[[Order, OrderStatus | None], None]] = []  # None: just created
        self.on_fill: list[Callable[[Order, Fill, Decimal], None]] = []
        # Identity map of live orders: every component mutates the same object, so no stale copy
        # loaded from the store can overwrite a newer state.
        self.live: dict[str, Order] = {}
        self._by_venue_id: dict[tuple[str, str], str] = {}
        for order in store.open_orders():
            self.register(order)

    def register(self, order: Order) -> None:
        self.live[order.client_id] = order
        if order.venue_order_id:
            self._by_venue_id[(order.account, order.venue_order_id)] = order.client_id

    def create(self, order: Order, detail: dict[str, Any] | None = None) -> Order:
        """Persists a new PENDING order (committed before returning) and starts tracking it."""
        self.store.insert_order(order, detail)
        self.register(order)
        self.bus.publish("order.updated", {"order": order_view(order), "previous_status": None})
        for callback in self.on_change:
            callback(order, None)
        return order

    def find_by_id(self, order_id: str) -> Order | None:
        # Tradewire's order id is the venue client id, so the live map answers both.
        return self.live.get(order_id) or self.store.get_order(order_id)

    def find(self, account: str, *, client_id: str | None = None, venue_order_id: str | None = None) -> Order | None:
        """The live object when the order is open; else the stored (terminal) order; else None."""
        if client_id and client_id in self.live:
            return self.live[client_id]
        if client_id:
            stored = self.store.get_order_by_client_id(client_id)
            if stored is not None:
                return stored
        if venue_order_id:
            known = self._by_venue_id.get((account, venue_order_id))
            if known and known in self.live:
                return self.live[known]
            return self.store.get_order_by_venue_id(account, venue_order_id)
        return None

    def transition(self, order: Order, status: OrderStatus, kind: str, detail: dict[str, Any] | None = None,
                   *, filled: Decimal | None = None, average: Decimal | None = None,
                   venue_order_id: str | None = None, error: str | None = None) -> bool:
        """Applies a new status (and fill progress) if legal; returns whether anything changed."""
        previous = order.status
        if status is not previous and not can_transition(previous, status):
            log.warning("refused illegal transition %s → %s for %s (%s)", previous.value, status.value,
                        order.client_id, kind)
            self.store.add_event(order.id, "refused", {"from": previous.value, "to": status.value,
                                                       "via": kind, **(detail or {})}, previous)
            return False
        changed = status is not previous
        if venue_order_id and venue_order_id != order.venue_order_id:
            order.venue_order_id, changed = venue_order_id, True
        if filled is not None and filled > order.filled:      # fill progress only moves forward
            order.filled, changed = filled, True
            if average is not None:
                order.average_price = average
        if error and error != order.error:
            order.error, changed = error, True
        if not changed:
            return False
        order.status = status
        self.store.save_order(order, kind, previous, detail)
        if status.terminal:
            self.live.pop(order.client_id, None)
            self._by_venue_id.pop((order.account, order.venue_order_id or ""), None)
        elif order.venue_order_id:
            self._by_venue_id[(order.account, order.venue_order_id)] = order.client_id
        self.bus.publish("order.updated", {"order": order_view(order), "previous_status": previous.value})
        for callback in self.on_change:
            callback(order, previous)
        return True

    def apply_venue(self, order: Order, report: VenueOrder, kind: str) -> bool:
        """A venue report (REST reply, websocket update, reconciliation lookup) about ``order``."""
        status = report.status
        if status is OrderStatus.OPEN and report.filled > 0:
            status = OrderStatus.PARTIALLY_FILLED
        # A stale report (an OPEN arriving after the websocket already said FILLED) must not move us back.
        if order.status.terminal and status is not order.status:
            return False
        if status is OrderStatus.PARTIALLY_FILLED and order.status is OrderStatus.PARTIALLY_FILLED \
                and report.filled <= order.filled:
            return False
        if status is OrderStatus.OPEN and order.status is OrderStatus.PARTIALLY_FILLED:
            return False
        return self.transition(order, status, kind, {"venue_status": report.status.value},
                               filled=report.filled, average=report.average_price,
                               venue_order_id=report.venue_order_id)

    def book_trade(self, order: Order, trade: VenueTrade) -> Fill | None:
        """Records a venue trade of ``order`` once; updates the position; returns the new Fill or None."""
        fill = Fill(trade_id=trade.trade_id, order_id=order.id, account=order.account, symbol=order.symbol,
                    side=order.side, quantity=trade.quantity, price=trade.price, fee=trade.fee,
                    fee_currency=trade.fee_currency, ts=trade.ts)
        if not self.store.insert_fill(fill):
            return None
        position, realized = self.positions.apply(fill)
        self.bus.publish("fill", {"order_id": order.id, "client_id": order.client_id, "account": order.account,
                                  "symbol": order.symbol, "side": order.side.value, "trade_id": trade.trade_id,
                                  "quantity": str(trade.quantity), "price": str(trade.price),
                                  "fee": str(trade.fee), "leg": order.leg.value})
        self.bus.publish("position.updated", position_view(position))
        for callback in self.on_fill:
            callback(order, fill, realized)
        return fill


def position_view(position: Any, mark: Decimal | None = None) -> dict[str, Any]:
    unrealized = position.unrealized(mark)
    return {"account": position.account, "symbol": position.symbol, "quantity": str(position.quantity),
            "average_entry": str(position.average_entry), "realized_pnl": str(position.realized_pnl),
            "unrealized_pnl": str(unrealized) if unrealized is not None else None}
