"""Protective legs (SPEC §9): every filled entry with a stop loss / take profit gets exit orders.

The best route the venue offers is used: native attached SL/TP (``bracket_orders``: sent with the entry,
nothing to do here), else a native OCO pair per take-profit level (Binance orderList/oco), else separate
legs whose one-cancels-other behaviour Tradewire emulates. Fills are protected as they arrive: each new
filled increment becomes a *tranche* with its own legs, so leg quantities always add up to the filled
quantity and no cancel/replace window leaves anything naked.

A leg that cannot be placed is retried ``leg_retries`` times (each with a new client id, since the failed
one is final). Then ``error`` POSITION_UNPROTECTED is emitted and, with ``on_leg_failure: flatten``, the
entry and its remaining legs are cancelled and the unexited quantity is closed with a market order.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bot.events import EventBus
from bot.execution.client_ids import client_id
from bot.execution.orders import OrderLedger
from bot.execution.submit import Submitter
from bot.model import Fill, Leg, Order, OrderStatus, OrderType, Side, TimeInForce
from bot.venues.errors import RateLimited, Retryable, VenueError

log = logging.getLogger("tradewire.protection")

STOP_LIMIT_SLIPPAGE = Decimal("0.005")   # stop-limit price beyond the trigger, so the stop still fills in a gap


@dataclass(frozen=True)
class ProtectionRules:
    on_leg_failure: str = "flatten"      # flatten | alert
    leg_retries: int = 3


class Protection:
    def __init__(self, ledger: OrderLedger, submitter: Submitter, venues: dict, bus: EventBus, *,
                 rules_for: Callable[[str], ProtectionRules] = lambda symbol: ProtectionRules(),
                 mode: str = "auto", clock_ms: Callable[[], float] | None = None):
        self.ledger = ledger
        self.store = ledger.store
        self.submitter = submitter
        self.venues = venues
        self.bus = bus
        self.rules_for = rules_for
        self.mode = mode                 # auto | oco | separate (separate forces the emulated route)
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        # (what, seconds): entry fill → legs sent, leg failure → flatten sent; read by the benchmarks.
        self.timings: deque[tuple[str, float]] = deque(maxlen=100_000)
        ledger.on_fill.append(self._on_fill)
        ledger.on_change.append(self._on_change)

    # -- triggers -----------------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # A bug here would leave a position naked without a word: make it loud.
            error = task.exception()
            log.error("protection task failed: %r", error, exc_info=error)
            self.bus.publish("error", {"code": "PROTECTION_ERROR", "message": repr(error)})

    def _lock(self, account: str, symbol: str) -> asyncio.Lock:
        # One lock per market: placing, emulated OCO and rebalancing of one position never interleave.
        return self._locks.setdefault(f"{account}|{symbol}", asyncio.Lock())

    def _on_fill(self, order: Order, fill: Fill, realized: Decimal) -> None:
        if order.leg is Leg.ENTRY and (order.stop_loss is not None or order.take_profit not in ("", "[]")):
            self._spawn(self.protect(order.id))
        elif order.leg in (Leg.STOP_LOSS, Leg.TAKE_PROFIT) and order.parent_id:
            self._spawn(self._emulate_oco(order))
        # Locks are FIFO, so this runs after the work above and sees the legs it placed.
        self._spawn(self.rebalance(order.account, order.symbol))

    def _on_change(self, order: Order, previous: OrderStatus | None) -> None:
        if order.leg in (Leg.STOP_LOSS, Leg.TAKE_PROFIT) and order.parent_id and order.status is OrderStatus.FILLED:
            self._spawn(self._emulate_oco(order))

    def resume(self, entry_id: str) -> None:
        """Start-up: checks the entry's legs in the background (see ``protect(resume=True)``)."""
        self._spawn(self.protect(entry_id, resume=True))

    async def drain(self) -> None:
        """Waits for protection work in progress (tests; shutdown goes through ``stop``)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self, grace: float) -> None:
        """Shutdown: lets protection work finish for ``grace`` seconds, then stops what is left. Legs are
        idempotent by client id, and the next start re-checks every entry's legs."""
        try:
            async with asyncio.timeout(grace):
                await self.drain()
        except TimeoutError:
            log.warning("%d protection tasks still waiting at shutdown were stopped; the next start resumes them",
                        len(self._tasks))
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- state --------------------------------------------------------------------------------------

    def _plan(self, entry_id: str) -> dict[str, Any]:
        return self.store.get_json(f"protection:{entry_id}", {"tranches": [], "failed": False, "flattened": False})

    def _save_plan(self, entry_id: str, plan: dict[str, Any]) -> None:
        self.store.put_json(f"protection:{entry_id}", plan)

    def _filled_by_fills(self, entry: Order) -> Decimal:
        return sum((f.quantity for f in self.store.fills_for(entry.id)), Decimal(0))

    def route(self, account: str) -> str:
        caps = self.venues[account].capabilities
        if self.mode == "separate":
            return "separate"
        if caps.bracket_orders and self.mode == "auto":
            return "bracket"
        return "oco" if caps.oco else "separate"

    # -- placing ------------------------------------------------------------------------------------

    async def protect(self, entry_id: str, *, resume: bool = False) -> None:
        """Places legs for the entry's unprotected filled quantity. ``resume`` (start-up) first re-places any
        leg of an earlier tranche that a crash left unsent; legs that exist are found by client id, not resent."""
        entry = self.ledger.find_by_id(entry_id)
        if entry is None:
            return
        async with self._lock(entry.account, entry.symbol):
            entry = self.ledger.find_by_id(entry_id) or entry
            plan = self._plan(entry_id)
            if plan["failed"] or self.route(entry.account) == "bracket":
                return
            if resume:
                for tranche in plan["tranches"]:
                    if not await self._place_tranche(entry, tranche["n"], Decimal(tranche["quantity"])):
                        plan["failed"] = True
                        self._save_plan(entry_id, plan)
                        await self._unprotected(entry)
                        return
            venue = self.venues[entry.account]
            protected = sum((Decimal(t["quantity"]) for t in plan["tranches"]), Decimal(0))
            increment = venue.amount_to_precision(entry.symbol, self._filled_by_fills(entry) - protected)
            if increment <= 0 or increment < venue.min_amount(entry.symbol):
                return               # too small to place yet: the next fill adds to it
            started = asyncio.get_running_loop().time()
            number = len(plan["tranches"]) + 1
            plan["tranches"].append({"n": number, "quantity": str(increment)})
            self._save_plan(entry_id, plan)   # before sending, so a restart knows this tranche was begun
            ok = await self._place_tranche(entry, number, increment)
            self.timings.append(("fill_to_legs", asyncio.get_running_loop().time() - started))
            if not ok:
                plan["failed"] = True
                self._save_plan(entry_id, plan)
                await self._unprotected(entry)

    def _take_profit_split(self, entry: Order, quantity: Decimal) -> list[tuple[Decimal, Decimal]]:
        """(price, quantity) per take-profit level, rounded to the lot step; the last takes the remainder."""
        levels = [(Decimal(p), Decimal(f)) for p, f in json.loads(entry.take_profit or "[]")]
        venue = self.venues[entry.account]
        parts: list[tuple[Decimal, Decimal]] = []
        left = quantity
        for index, (price, fraction) in enumerate(levels):
            last = index == len(levels) - 1
            part = left if last else venue.amount_to_precision(entry.symbol, quantity * fraction)
            if part <= 0 or part < venue.min_amount(entry.symbol):
                continue              # too small for its own order: it stays with the next level
            parts.append((price, part))
            left -= part
        return parts

    async def _place_tranche(self, entry: Order, number: int, quantity: Decimal) -> bool:
        rules = self.rules_for(entry.symbol)
        exit_side = entry.side.opposite
        venue = self.venues[entry.account]
        stop = entry.stop_loss
        stop_limit = None
        if stop is not None:
            factor = 1 - STOP_LIMIT_SLIPPAGE if exit_side is Side.SELL else 1 + STOP_LIMIT_SLIPPAGE
            stop_limit = venue.price_to_precision(entry.symbol, stop * factor)
        targets = self._take_profit_split(entry, quantity)
        if stop is not None and targets and self.route(entry.account) == "oco":
            for level, (price, part) in enumerate(targets, 1):
                if not await self._with_retries(rules, lambda attempt, level=level, price=price, part=part:
                                                self._send_oco(entry, number, level, attempt, part, price,
                                                               stop, stop_limit)):
                    return False
            return True
        if stop is not None:
            if not await self._with_retries(rules, lambda attempt: self._send_leg(
                    entry, Leg.STOP_LOSS, f"s{number}", attempt, OrderType.STOP_LIMIT, quantity,
                    price=stop_limit, stop_price=stop)):
                return False
        for level, (price, part) in enumerate(targets, 1):
            if not await self._with_retries(rules, lambda attempt, level=level, price=price, part=part: self._send_leg(
                    entry, Leg.TAKE_PROFIT, f"t{number}x{level}", attempt, OrderType.LIMIT, part, price=price)):
                return False
        return True

    @staticmethod
    async def _with_retries(rules: ProtectionRules, place: Callable[[int], Any]) -> bool:
        for attempt in range(rules.leg_retries + 1):
            if await place(attempt):
                return True
        return False

    def _leg_order(self, entry: Order, leg: Leg, tag: str, attempt: int, order_type: OrderType,
                   quantity: Decimal, price: Decimal | None, stop_price: Decimal | None) -> Order:
        # Derived like the entry's own id, from (account, source, signal id or API id, leg).
        cid = client_id(entry.account, entry.origin_source, entry.origin_ref, f"{tag}r{attempt}")
        return Order(id=cid, account=entry.account, symbol=entry.symbol, side=entry.side.opposite,
                     order_type=order_type, quantity=quantity, client_id=cid, price=price, stop_price=stop_price,
                     time_in_force=TimeInForce.GTC, leg=leg, parent_id=entry.id, origin_kind=entry.origin_kind,
                     origin_source=entry.origin_source, origin_ref=entry.origin_ref,
                     correlation_id=entry.correlation_id, signal_key=entry.signal_key, reduce_only=True)

    async def _send_leg(self, entry: Order, leg: Leg, tag: str, attempt: int, order_type: OrderType,
                        quantity: Decimal, *, price: Decimal | None = None, stop_price: Decimal | None = None) -> bool:
        order = self._leg_order(entry, leg, tag, attempt, order_type, quantity, price, stop_price)
        existing = self.ledger.find(entry.account, client_id=order.client_id)
        if existing is not None:            # placed before a restart: never send twice
            return existing.status is not OrderStatus.REJECTED
        self.ledger.create(order, {"leg_of": entry.id})
        await self.submitter.send(order)
        return order.status not in (OrderStatus.REJECTED, OrderStatus.EXPIRED)

    async def _send_oco(self, entry: Order, number: int, level: int, attempt: int, quantity: Decimal,
                        take_profit: Decimal, stop: Decimal, stop_limit: Decimal | None) -> bool:
        tag = f"o{number}x{level}"
        tp = self._leg_order(entry, Leg.TAKE_PROFIT, tag + "t", attempt, OrderType.LIMIT_MAKER, quantity,
                             take_profit, None)
        sl = self._leg_order(entry, Leg.STOP_LOSS, tag + "s", attempt, OrderType.STOP_LIMIT, quantity,
                             stop_limit, stop)
        placed = self.ledger.find(entry.account, client_id=sl.client_id)
        if placed is not None:              # placed before a restart: never send twice
            return placed.status is not OrderStatus.REJECTED
        for leg in (tp, sl):
            self.ledger.create(leg, {"leg_of": entry.id, "oco": True})
        venue = self.venues[entry.account]
        list_id = client_id(entry.account, entry.origin_source, entry.origin_ref, f"{tag}lr{attempt}")
        try:
            reports = await self._create_oco(venue, list_client_id=list_id, tp_client_id=tp.client_id,
                                             sl_client_id=sl.client_id, symbol=entry.symbol,
                                             side=entry.side.opposite, quantity=quantity, take_profit=take_profit,
                                             stop_price=stop, stop_limit_price=stop_limit or stop)
        except VenueError as exc:
            if exc.kind == "unknown":
                # Maybe placed: each leg is looked up by its own client id before anything else is tried.
                found = [await self.submitter.resolve(leg) for leg in (tp, sl)]
                if all(found):
                    return True
                if any(f is None for f in found):
                    return False   # cannot tell: treat as unprotected rather than risk a second list
            for leg in (tp, sl):
                self.ledger.transition(leg, OrderStatus.REJECTED, "rejected", {"code": exc.code},
                                       error=f"{exc.code}: {exc}")
            return False
        by_client = {report.client_id: report for report in reports}
        for leg in (tp, sl):
            if leg.client_id in by_client:
                self.ledger.apply_venue(leg, by_client[leg.client_id], "acknowledged")
        return True

    async def _create_oco(self, venue, **request: Any) -> list:
        """Sends the list; a 429 or a refusal before processing waits and sends again without spending one
        of the leg's retries (nothing was placed). Other errors are the caller's."""
        for attempt in range(self.submitter.policy.attempts):
            try:
                return await venue.create_oco(**request)
            except RateLimited as exc:
                await asyncio.sleep(exc.retry_after)
            except Retryable as exc:
                if exc.code == "INVALID_NONCE":
                    await venue.resync_clock()
                await asyncio.sleep(self.submitter.policy.backoff * 2 ** attempt)
        return await venue.create_oco(**request)

    # -- one-cancels-other, emulated ----------------------------------------------------------------

    async def _emulate_oco(self, leg: Order) -> None:
        """A separate leg filled: shrink or cancel its siblings so the exits never exceed the position."""
        if leg.parent_id is None or self.route(leg.account) == "oco":
            return   # native OCO lists cancel their own siblings at the venue
        async with self._lock(leg.account, leg.symbol):
            entry = self.ledger.find_by_id(leg.parent_id)
            if entry is None:
                return
            legs = [o for o in self.store.children(entry.id) if o.leg in (Leg.STOP_LOSS, Leg.TAKE_PROFIT)]
            exited = sum((self._filled_by_fills(o) for o in legs), Decimal(0))
            open_exposure = self._filled_by_fills(entry) - exited
            for sibling in legs:
                live = self.ledger.live.get(sibling.client_id)
                if live is None or live.id == leg.id:
                    continue
                if leg.leg is Leg.STOP_LOSS or open_exposure <= 0:
                    await self.submitter.cancel(live)
                elif live.leg is Leg.STOP_LOSS and live.remaining > open_exposure:
                    await self._resize_stop(entry, live, open_exposure)

    async def rebalance(self, account: str, symbol: str) -> None:
        """Keeps the live legs of a market within its net position. Entries in opposite directions net
        out on one position: a leg on the side that would grow or reverse the position is cancelled, and
        stops or take-profits adding up to more than the position are cut back, youngest first, with the
        cut stop re-placed for whatever part of the position it still has to cover."""
        async with self._lock(account, symbol):
            position = self.ledger.positions.quantity(account, symbol)
            closing = Side.SELL if position > 0 else Side.BUY
            legs = [o for o in list(self.ledger.live.values()) if o.account == account and o.symbol == symbol
                    and o.leg in (Leg.STOP_LOSS, Leg.TAKE_PROFIT)]
            for leg in legs:
                if position == 0 or leg.side is not closing:
                    await self.submitter.cancel(leg)
            for kind in (Leg.STOP_LOSS, Leg.TAKE_PROFIT):
                group = sorted((o for o in legs if o.leg is kind and o.side is closing and position != 0
                                and not o.status.terminal), key=lambda o: o.created_at, reverse=True)
                excess = sum((o.remaining for o in group), Decimal(0)) - abs(position)
                cut: Order | None = None
                for leg in group:
                    if excess <= 0:
                        break
                    await self.submitter.cancel(leg)
                    excess -= leg.remaining
                    cut = leg
                if kind is Leg.STOP_LOSS and cut is not None and excess < 0 and cut.parent_id:
                    entry = self.ledger.find_by_id(cut.parent_id)
                    if entry is not None:
                        await self._replace_stop(entry, cut, -excess)

    async def _resize_stop(self, entry: Order, stop: Order, quantity: Decimal) -> None:
        """A take-profit took part of the position: the stop now covers only what is left."""
        await self.submitter.cancel(stop)
        await self._replace_stop(entry, stop, quantity)

    async def _replace_stop(self, entry: Order, stop: Order, quantity: Decimal) -> None:
        """A new stop leg like the cancelled ``stop``, for ``quantity``."""
        venue = self.venues[entry.account]
        quantity = venue.amount_to_precision(entry.symbol, quantity)
        if quantity <= 0 or quantity < venue.min_amount(entry.symbol):
            return
        tag = f"z{len(self.store.children(entry.id))}"
        await self._send_leg(entry, Leg.STOP_LOSS, tag, 0, OrderType.STOP_LIMIT, quantity,
                             price=stop.price, stop_price=stop.stop_price)

    # -- failure ------------------------------------------------------------------------------------

    async def _unprotected(self, entry: Order) -> None:
        rules = self.rules_for(entry.symbol)
        started = asyncio.get_running_loop().time()
        self.bus.publish("error", {"code": "POSITION_UNPROTECTED", "account": entry.account, "symbol": entry.symbol,
                                   "order_id": entry.id, "action": rules.on_leg_failure,
                                   "message": f"protective leg for {entry.client_id} could not be placed"})
        log.error("POSITION_UNPROTECTED %s %s (entry %s): %s", entry.account, entry.symbol, entry.client_id,
                  rules.on_leg_failure)
        if rules.on_leg_failure == "flatten":
            await self.flatten_entry(entry, started)

    async def flatten_entry(self, entry: Order, started: float | None = None) -> Order | None:
        """Cancels the entry and its legs, then closes what the entry filled and no leg exited yet."""
        if entry.status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING):
            live = self.ledger.live.get(entry.client_id)
            if live is not None:
                await self.submitter.cancel(live)
        legs = [o for o in self.store.children(entry.id) if o.leg in (Leg.STOP_LOSS, Leg.TAKE_PROFIT)]
        for leg in legs:
            live = self.ledger.live.get(leg.client_id)
            if live is not None:
                await self.submitter.cancel(live)
        exited = sum((self._filled_by_fills(o) for o in self.store.children(entry.id)), Decimal(0))
        venue = self.venues[entry.account]
        quantity = venue.amount_to_precision(entry.symbol, self._filled_by_fills(entry) - exited)
        if quantity <= 0:
            return None
        cid = client_id(entry.account, entry.origin_source, entry.origin_ref, "flat")
        existing = self.ledger.find(entry.account, client_id=cid)
        if existing is not None:
            return existing
        order = Order(id=cid, account=entry.account, symbol=entry.symbol, side=entry.side.opposite,
                      order_type=OrderType.MARKET, quantity=quantity, client_id=cid, leg=Leg.FLATTEN,
                      parent_id=entry.id, origin_kind=entry.origin_kind, origin_source=entry.origin_source,
                      origin_ref=entry.origin_ref, signal_key=entry.signal_key, reduce_only=True)
        self.ledger.create(order, {"flatten_of": entry.id})
        send = asyncio.get_running_loop().create_task(self.submitter.send(order))
        if started is not None:
            self.timings.append(("leg_failure_to_flatten", asyncio.get_running_loop().time() - started))
        await send
        self.bus.publish("position.flattened", {"account": entry.account, "symbol": entry.symbol,
                                                "reason": "leg_failure", "order_id": order.id, "entry_id": entry.id,
                                                "quantity": str(quantity), "status": order.status.value})
        return order
