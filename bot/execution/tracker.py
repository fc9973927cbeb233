"""Fill tracking and reconciliation.

Order updates and trades arrive over the venue's user stream (ccxt.pro ``watch_orders`` /
``watch_my_trades``). Events sent while a stream is down are lost, so after every reconnect, periodically,
and at start-up before the daemon reports ready, the venue is asked over REST: every non-terminal order is
looked up by client id, recent trades are fetched and booked (each trade id once), and open venue orders
the store does not know are reported and left alone.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.events import EventBus
from bot.execution.orders import OrderLedger
from bot.execution.submit import Submitter
from bot.model import OrderStatus
from bot.venues.base import VenueOrder, VenueTrade
from bot.venues.errors import VenueError

log = logging.getLogger("tradewire.tracker")


@dataclass
class ReconcileReport:
    account: str
    resolved: int = 0
    lost: int = 0
    fills_recovered: int = 0
    unknown_venue_orders: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Tracker:
    def __init__(self, ledger: OrderLedger, submitter: Submitter, venues: dict, symbols: dict[str, list[str]],
                 bus: EventBus, *, lost_after: int = 3, on_reconnect: Callable[[str], None] = lambda a: None):
        self.ledger = ledger
        self.submitter = submitter
        self.venues = venues
        self.symbols = symbols
        self.bus = bus
        self.lost_after = lost_after
        self.on_reconnect = on_reconnect
        self.streams_up: dict[str, bool] = {account: False for account in venues}
        self._tasks: list[asyncio.Task[None]] = []
        self._reconcile_lock = {account: asyncio.Lock() for account in venues}
        self._last_trade_ms: dict[str, int] = {}

    async def start(self, timeout: float = 10.0) -> None:
        """Starts the user streams and returns once each venue confirmed the subscription."""
        for account, venue in self.venues.items():
            self._tasks.append(asyncio.create_task(self._stream(account, "orders")))
            self._tasks.append(asyncio.create_task(self._stream(account, "trades")))
            async with asyncio.timeout(timeout):
                await venue.open_user_stream()
            deadline = asyncio.get_running_loop().time() + 2.0
            while not venue.user_stream_listening() and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.005)
            self.streams_up[account] = True

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    # -- streams ------------------------------------------------------------------------------------

    async def _stream(self, account: str, kind: str) -> None:
        venue = self.venues[account]
        watch = venue.watch_orders if kind == "orders" else venue.watch_my_trades
        handle = self.on_order_report if kind == "orders" else self.on_trade
        while True:
            try:
                batch = await watch()
            except VenueError as exc:
                if kind == "orders":
                    log.warning("%s user stream dropped: %s", account, exc)
                    await self._resubscribe(account, venue)
                else:
                    await asyncio.sleep(0.2)   # the orders task reconnects the shared socket
                continue
            for item in batch:
                handle(account, item)

    async def _resubscribe(self, account: str, venue) -> None:
        """Reconnects with backoff, then reconciles: what happened while the socket was down is only
        visible over REST."""
        self.streams_up[account] = False
        delay = 0.1
        while True:
            try:
                await venue.open_user_stream()
                break
            except VenueError as exc:
                log.warning("%s user stream reconnect failed: %s", account, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self.streams_up[account] = True
        self.on_reconnect(account)
        await self.reconcile(account)

    def on_order_report(self, account: str, report: VenueOrder) -> None:
        order = self.ledger.find(account, client_id=report.client_id, venue_order_id=report.venue_order_id)
        if order is None:
            log.info("%s: update for an order Tradewire did not place (%s); left alone", account, report.client_id)
            return
        self.ledger.apply_venue(order, report, "stream")

    def on_trade(self, account: str, trade: VenueTrade) -> None:
        order = self.ledger.find(account, client_id=trade.client_id, venue_order_id=trade.venue_order_id)
        if order is None:
            return  # not ours, or not yet acknowledged: REST reconciliation books it once the order is known
        self.ledger.book_trade(order, trade)
        self._last_trade_ms[account] = max(self._last_trade_ms.get(account, 0), int(trade.ts * 1000))

    # -- reconciliation -----------------------------------------------------------------------------

    async def reconcile(self, account: str) -> ReconcileReport:
        async with self._reconcile_lock[account]:
            report = ReconcileReport(account)
            venue = self.venues[account]
            try:
                await self._orders(account, venue, report)
                await self._trades(account, venue, report)
                await self._foreign(account, venue, report)
            except VenueError as exc:
                report.errors.append(str(exc))
                log.warning("%s: reconciliation incomplete: %s", account, exc)
            if report.resolved or report.lost or report.fills_recovered or report.unknown_venue_orders:
                log.info("%s: reconciled: %d orders updated, %d lost, %d fills recovered, %d unknown venue orders",
                         account, report.resolved, report.lost, report.fills_recovered,
                         len(report.unknown_venue_orders))
            return report

    async def _orders(self, account: str, venue, report: ReconcileReport) -> None:
        store = self.ledger.store
        for order in [o for o in list(self.ledger.live.values()) if o.account == account]:
            if order.id in self.submitter.in_flight or order.status.terminal:
                continue   # its submit is still resolving it
            found = await venue.fetch_order(order.client_id, order.symbol)
            if found is not None:
                store.set_order_meta(order.id, lost_checks=0)
                if self.ledger.apply_venue(order, found, "reconciled"):
                    report.resolved += 1
                continue
            # Only a definite "not found" counts toward lost, and only after several of them.
            checks = (store.order_meta(order.id, "lost_checks") or 0) + 1
            store.set_order_meta(order.id, lost_checks=checks)
            store.add_event(order.id, "not_found", {"lookups": checks}, order.status)
            if checks >= self.lost_after:
                never_sent = order.status is OrderStatus.PENDING
                reason = "never reached the venue" if never_sent else "the venue no longer knows it"
                self.ledger.transition(order, OrderStatus.EXPIRED, "lost", {"lookups": checks},
                                       error=f"LOST: {reason}")
                report.lost += 1

    async def _trades(self, account: str, venue, report: ReconcileReport) -> None:
        # A little overlap with the last trade seen; duplicates are dropped by trade id.
        since = self._last_trade_ms.get(account)
        since = since - 60_000 if since else int((time.time() - 24 * 3600) * 1000)
        # Configured markets plus any market an open order of ours is in (API orders may go anywhere).
        symbols = dict.fromkeys([*self.symbols.get(account, []),
                                 *(o.symbol for o in self.ledger.live.values() if o.account == account)])
        for symbol in symbols:
            for trade in await venue.fetch_my_trades(symbol, since):
                order = self.ledger.find(account, client_id=trade.client_id, venue_order_id=trade.venue_order_id)
                if order is not None and self.ledger.book_trade(order, trade) is not None:
                    report.fills_recovered += 1
                self._last_trade_ms[account] = max(self._last_trade_ms.get(account, 0), int(trade.ts * 1000))

    async def _foreign(self, account: str, venue, report: ReconcileReport) -> None:
        for symbol in self.symbols.get(account, []):
            for open_order in await venue.fetch_open_orders(symbol):
                if self.ledger.find(account, client_id=open_order.client_id,
                                    venue_order_id=open_order.venue_order_id) is None:
                    report.unknown_venue_orders.append(f"{symbol}:{open_order.venue_order_id}")
                    self.bus.publish("error", {"code": "UNKNOWN_VENUE_ORDER", "account": account, "symbol": symbol,
                                               "venue_order_id": open_order.venue_order_id,
                                               "client_id": open_order.client_id,
                                               "message": "open order at the venue not placed by Tradewire; left alone"})
