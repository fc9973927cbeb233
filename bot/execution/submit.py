"""Placing and cancelling orders safely: persist → send → observe.

- An order is committed to the store (PENDING) under its deterministic client id before it is sent; the
  same client id again returns the stored order and sends nothing.
- A submit whose outcome is unknown is resolved by looking the client id up, after a grace period for the
  venue's eventual consistency. Only ``lost_after`` definite "not found" answers (never a network error)
  prove it absent, and only then is it sent again. When the venue cannot be asked, the order stays PENDING
  for the reconciler: it is never resent on a guess.
- A "Duplicate order sent." rejection means the order exists: it is resolved by lookup, not rejected.
"""
from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass

from structlog.contextvars import bind_contextvars

from bot.execution.orders import OrderLedger
from bot.model import Order, OrderStatus
from bot.venues.errors import Fatal, RateLimited, Rejected, Retryable, Unknown, VenueError

log = logging.getLogger("tradewire.submit")


@dataclass
class SubmitPolicy:
    attempts: int = 4              # sends of one order at most (each after proof of absence or a 429)
    unknown_grace: float = 1.0     # seconds before the first lookup of an unknown submit
    lost_after: int = 3            # definite not-found lookups that prove absence
    lookup_attempts: int = 8       # lookups per resolution (network errors retried with backoff)
    backoff: float = 0.2


class Submitter:
    def __init__(self, ledger: OrderLedger, venues: dict, policy: SubmitPolicy | None = None,
                 on_venue_result=lambda account, ok: None, rng: random.Random | None = None):
        self.ledger = ledger
        self.venues = venues
        self.policy = policy or SubmitPolicy()
        self.on_venue_result = on_venue_result
        self.rng = rng or random.Random()
        self.in_flight: set[str] = set()

    def _sleep(self, base: float, attempt: int) -> asyncio.Future:
        # Exponential backoff with jitter: concurrent retries spread out instead of hitting the venue together.
        return asyncio.sleep(base * 2 ** attempt * (0.5 + self.rng.random()))

    async def send(self, order: Order) -> Order:
        """Sends a persisted PENDING order and follows it to an acknowledgement, rejection or resolution."""
        venue = self.venues[order.account]
        bind_contextvars(client_order_id=order.client_id, correlation_id=order.correlation_id)
        self.in_flight.add(order.id)
        try:
            for attempt in range(self.policy.attempts):
                try:
                    report = await venue.create_order(
                        client_id=order.client_id, symbol=order.symbol, side=order.side,
                        order_type=order.order_type, quantity=order.quantity, price=order.price,
                        stop_price=order.stop_price, time_in_force=order.time_in_force)
                except Rejected as exc:
                    self.on_venue_result(order.account, True)   # the venue answered: it is healthy
                    if "Duplicate order" in str(exc):
                        if await self.resolve(order) is not False:
                            return order
                        continue
                    self.ledger.transition(order, OrderStatus.REJECTED, "rejected",
                                           {"code": exc.code, "message": str(exc)}, error=f"{exc.code}: {exc}")
                    return order
                except RateLimited as exc:
                    self.on_venue_result(order.account, False)
                    self.ledger.store.add_event(order.id, "rate_limited", {"retry_after": exc.retry_after})
                    await asyncio.sleep(exc.retry_after)
                    continue
                except Retryable as exc:
                    # Refused before processing (e.g. clock skew): resync and send again.
                    self.on_venue_result(order.account, False)
                    self.ledger.store.add_event(order.id, "retry", {"error": str(exc)})
                    if exc.code == "INVALID_NONCE":
                        await venue.resync_clock()
                    await self._sleep(self.policy.backoff, attempt)
                    continue
                except Fatal as exc:
                    self.on_venue_result(order.account, False)
                    self.ledger.transition(order, OrderStatus.REJECTED, "rejected", {"code": exc.code},
                                           error=f"{exc.code}: {exc}")
                    return order
                except Unknown as exc:
                    self.on_venue_result(order.account, False)
                    self.ledger.store.add_event(order.id, "unknown_outcome", {"error": str(exc)})
                    found = await self.resolve(order)
                    if found is None:
                        return order          # unresolved: stays PENDING for the reconciler
                    if found:
                        return order
                    self.ledger.store.add_event(order.id, "resend", {"attempt": attempt + 1})
                    continue
                self.on_venue_result(order.account, True)
                self.ledger.apply_venue(order, report, "acknowledged")
                for trade in report.trades:      # booked once: the stream's copy is dropped by trade id
                    self.ledger.book_trade(order, trade)
                return order
            self.ledger.transition(order, OrderStatus.REJECTED, "rejected", {"code": "SUBMIT_FAILED"},
                                   error=f"SUBMIT_FAILED: no acknowledgement after {self.policy.attempts} sends")
            return order
        finally:
            self.in_flight.discard(order.id)

    async def resolve(self, order: Order, *, grace: float | None = None) -> bool | None:
        """Looks the order up by client id. True: found and applied. False: proven absent. None: unknown."""
        venue = self.venues[order.account]
        await asyncio.sleep(self.policy.unknown_grace if grace is None else grace)
        not_found = 0
        for attempt in range(self.policy.lookup_attempts):
            try:
                report = await venue.fetch_order(order.client_id, order.symbol)
            except VenueError as exc:
                log.info("lookup of %s failed (%s); retrying", order.client_id, exc)
                if isinstance(exc, RateLimited):
                    await asyncio.sleep(exc.retry_after)
                else:
                    await self._sleep(self.policy.backoff, min(attempt, 4))
                continue
            if report is not None and report.client_id in (None, order.client_id):
                if not self.ledger.apply_venue(order, report, "resolved"):
                    # The user stream got there first; still record how the unknown outcome ended.
                    self.ledger.store.add_event(order.id, "resolved", {"venue_status": report.status.value},
                                                order.status)
                return True
            not_found += 1
            self.ledger.store.add_event(order.id, "not_found", {"lookups": not_found})
            if not_found >= self.policy.lost_after:
                return False
            await self._sleep(self.policy.backoff, attempt)
        return None

    async def cancel(self, order: Order) -> bool:
        """Asks the venue to cancel; the final CANCELED comes from the venue's report. Retries transient errors."""
        if order.status.terminal:
            return False
        venue = self.venues[order.account]
        for attempt in range(self.policy.lookup_attempts):
            try:
                report = await venue.cancel_order(order.client_id, order.symbol)
            except (Retryable, Unknown, RateLimited) as exc:
                delay = exc.retry_after if isinstance(exc, RateLimited) else None
                await (asyncio.sleep(delay) if delay else self._sleep(self.policy.backoff, min(attempt, 4)))
                continue
            except VenueError as exc:
                self.ledger.store.add_event(order.id, "cancel_failed", {"error": str(exc)})
                return False
            if report is None:
                # Not open at the venue any more: find out what happened to it instead of guessing.
                await self.resolve(order, grace=0)
            else:
                self.ledger.apply_venue(order, report, "canceled")
            return True
        self.ledger.store.add_event(order.id, "cancel_failed", {"error": "venue unreachable"})
        return False
