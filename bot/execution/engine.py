"""``Execution``: the one path by which an accepted intent becomes a venue order, for signals and the API.

It owns the order ledger, the submitter, the tracker, protection and positions, and offers the queries the
policy and the API need (balances, positions, open orders). ``place`` persists before it sends; callers
choose whether to await the acknowledgement (the API's 201) or not (the signal path).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from bot.events import EventBus
from bot.execution.client_ids import client_id as derive_client_id
from bot.execution.orders import OrderLedger
from bot.execution.positions import PositionBook
from bot.execution.protection import Protection, ProtectionRules
from bot.execution.submit import SubmitPolicy, Submitter
from bot.execution.tracker import Tracker
from bot.model import Leg, Order, OrderIntent, OrderType, Origin, Side
from bot.store import Store
from bot.venues.errors import VenueError

log = logging.getLogger("tradewire.execution")


class Execution:
    def __init__(self, store: Store, venues: dict, bus: EventBus, *, symbols: dict[str, list[str]],
                 submit_policy: SubmitPolicy | None = None, lost_after: int = 3,
                 rules_for: Callable[[str], ProtectionRules] = lambda symbol: ProtectionRules(),
                 protection_mode: str = "auto",
                 on_venue_result: Callable[[str, bool], None] = lambda account, ok: None,
                 on_reconnect: Callable[[str], None] = lambda account: None):
        self.store = store
        self.venues = venues
        self.bus = bus
        self.positions = PositionBook(store)
        self.ledger = OrderLedger(store, self.positions, bus)
        self.submitter = Submitter(self.ledger, venues, submit_policy, on_venue_result)
        self.tracker = Tracker(self.ledger, self.submitter, venues, symbols, bus, lost_after=lost_after,
                               on_reconnect=on_reconnect)
        self.protection = Protection(self.ledger, self.submitter, venues, bus, rules_for=rules_for,
                                     mode=protection_mode)
        self.balances: dict[str, dict[str, Decimal]] = {}
        # Realized PnL since the last daily reset, per account (the policy's daily loss limit reads it).
        self.daily_realized: dict[str, Decimal] = {
            account: Decimal(value) for account, value in store.get_json("daily_realized", {}).items()}
        self.ledger.on_fill.append(self._count_realized)
        self._sends: set[asyncio.Task[Order]] = set()
        self.accepting = True

    # -- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start-up reconciliation, then the user streams. The daemon reports ready only after this."""
        for account in self.venues:
            await self.refresh_balances(account)
            report = await self.tracker.reconcile(account)
            if report.errors:
                raise RuntimeError(f"{account}: start-up reconciliation failed: {report.errors[0]}")
            log.info("%s: start-up reconciliation done: %d orders updated, %d lost, %d fills recovered, "
                     "%d venue orders not ours", account, report.resolved, report.lost, report.fills_recovered,
                     len(report.unknown_venue_orders))
        await self.tracker.start()
        # Entries filled while we were away, or whose legs a crash left unsent, still need their legs. This
        # runs behind readiness: the venue's order-count limit can make it take a while, and reconciliation
        # (what readiness promises) is already done.
        for account in self.venues:
            for order in self.store.list_orders(account=account, limit=1000):
                if order.leg is Leg.ENTRY and order.filled > 0 and order.stop_loss is not None:
                    self.protection.resume(order.id)

    async def stop(self, *, cancel_open: bool = False, grace: float = 10.0) -> None:
        """Stops taking orders, lets in-flight submits finish, optionally cancels resting orders.

        Work still waiting after ``grace`` seconds (a rate-limit pause, a venue that does not answer) is
        stopped: every such order is persisted, and the next start reconciles it before anything else.
        """
        self.accepting = False
        if self._sends:
            _, stuck = await asyncio.wait(list(self._sends), timeout=grace)
            for task in stuck:
                task.cancel()
            if stuck:
                log.warning("%d submits still waiting at shutdown were stopped; the next start resolves them",
                            len(stuck))
                await asyncio.gather(*stuck, return_exceptions=True)
        await self.protection.stop(grace)
        if cancel_open:
            for order in list(self.ledger.live.values()):
                await self.submitter.cancel(order)
        await self.tracker.stop()

    async def refresh_balances(self, account: str) -> None:
        try:
            self.balances[account] = await self.venues[account].fetch_balance()
        except VenueError as exc:
            log.warning("%s: balance refresh failed: %s", account, exc)

    def _count_realized(self, order: Order, fill: Any, realized: Decimal) -> None:
        if realized:
            self.daily_realized[order.account] = self.daily_realized.get(order.account, Decimal(0)) + realized
            self.store.put_json("daily_realized", {k: str(v) for k, v in self.daily_realized.items()})

    def reset_daily(self) -> None:
        self.daily_realized = {}
        self.store.put_json("daily_realized", {})

    # -- the policy's view (bot.policy.AccountView) -------------------------------------------------

    def realized_pnl_today(self, account: str) -> Decimal:
        return self.daily_realized.get(account, Decimal(0))

    def free_balance(self, account: str, asset: str) -> Decimal | None:
        balances = self.balances.get(account)
        if balances is None:
            return None
        return balances.get(asset, Decimal(0))

    def position_qty(self, account: str, symbol: str) -> Decimal:
        return self.positions.quantity(account, symbol)

    def open_orders(self, account: str, symbol: str) -> int:
        return sum(1 for o in self.ledger.live.values()
                   if o.account == account and o.symbol == symbol and o.leg is Leg.ENTRY)

    # -- placing ------------------------------------------------------------------------------------

    def client_id_for(self, intent: OrderIntent, origin: Origin) -> str:
        leg = "e" + (intent.tag or "") if intent.leg is Leg.ENTRY else intent.leg.value + (intent.tag or "")
        return derive_client_id(intent.account, origin.source, origin.ref, leg)

    def round_quantity(self, intent: OrderIntent) -> OrderIntent:
        """The venue's lot step, rounding down; a quantity that rounds to zero stays zero (and is refused)."""
        if intent.quantity is None:
            return intent
        return intent.with_(quantity=self.venues[intent.account].amount_to_precision(intent.symbol, intent.quantity))

    def order_for(self, intent: OrderIntent, origin: Origin, cid: str, signal_key: str | None) -> Order:
        """The order exactly as it will be sent: quantity and prices on the venue's lot and tick grid
        (the policy may have sized or priced the intent), so the store holds what the venue sees."""
        venue = self.venues[intent.account]
        intent = self.round_quantity(intent)
        price = venue.price_to_precision(intent.symbol, intent.price) if intent.price is not None else None
        stop = venue.price_to_precision(intent.symbol, intent.stop_price) if intent.stop_price is not None else None
        return Order(
            id=cid, account=intent.account, symbol=intent.symbol, side=intent.side, order_type=intent.order_type,
            quantity=intent.quantity or Decimal(0), client_id=cid, price=price, stop_price=stop,
            time_in_force=intent.time_in_force, leg=intent.leg, origin_kind=origin.kind, origin_source=origin.source,
            origin_ref=origin.ref, origin_ip=origin.ip, correlation_id=origin.correlation_id, signal_key=signal_key,
            stop_loss=intent.stop_loss, reduce_only=intent.reduce_only,
            take_profit=json.dumps([[str(p), str(f)] for p, f in intent.take_profit]) if intent.take_profit else "")

    def place(self, order: Order, detail: dict[str, Any] | None = None) -> asyncio.Task[Order]:
        """Persists the order (committed) and starts sending it; the task ends at ack/reject/resolution."""
        if not self.accepting:
            raise RuntimeError("execution is shutting down")
        self.ledger.create(order, detail)
        task = asyncio.get_running_loop().create_task(self._send(order))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)
        return task

    async def _send(self, order: Order) -> Order:
        if order.leg is Leg.EXIT:
            await self.cancel_legs(order.account, order.symbol)
        return await self.submitter.send(order)

    async def cancel_legs(self, account: str, symbol: str) -> int:
        """A closing signal exits the position: its protective legs go first (they lock the balance)."""
        legs = [o for o in list(self.ledger.live.values()) if o.account == account and o.symbol == symbol
                and o.leg in (Leg.STOP_LOSS, Leg.TAKE_PROFIT)]
        for leg in legs:
            await self.submitter.cancel(leg)
        return len(legs)

    async def expire_stale(self, max_age: float) -> int:
        """Cancels entry orders resting longer than ``max_age`` seconds (legs stay: they protect positions)."""
        cutoff = time.time() - max_age
        stale = [o for o in list(self.ledger.live.values())
                 if o.leg is Leg.ENTRY and o.created_at < cutoff and o.id not in self.submitter.in_flight]
        for order in stale:
            self.store.add_event(order.id, "expire_requested", {"max_age": max_age}, order.status)
            await self.submitter.cancel(order)
        return len(stale)

    async def cancel(self, order: Order) -> bool:
        return await self.submitter.cancel(order)

    async def flatten_all(self) -> list[Order]:
        """Kill switch: cancel every live order, then close every position with a market order."""
        for order in list(self.ledger.live.values()):
            await self.submitter.cancel(order)
        closing: list[Order] = []
        stamp = str(int(time.time() * 1000))
        for position in self.positions.all():
            if position.quantity == 0:
                continue
            venue = self.venues.get(position.account)
            if venue is None:
                continue
            quantity = venue.amount_to_precision(position.symbol, abs(position.quantity))
            if quantity <= 0:
                continue
            side = Side.SELL if position.quantity > 0 else Side.BUY
            cid = derive_client_id(position.account, "halt", f"{position.symbol}-{stamp}", "f")
            order = Order(id=cid, account=position.account, symbol=position.symbol, side=side,
                          order_type=OrderType.MARKET, quantity=quantity, client_id=cid, leg=Leg.FLATTEN,
                          origin_kind="api", origin_source="halt", origin_ref=stamp, reduce_only=True)
            closing.append(await self.place(order, {"reason": "halt --flatten"}))
            self.bus.publish("position.flattened", {"account": position.account, "symbol": position.symbol,
                                                    "reason": "halt", "order_id": order.id,
                                                    "quantity": str(quantity), "status": order.status.value})
        return closing
