"""An order-count limiter shaped like Binance's (N orders per rolling 10 s), replacing ccxt's blanket
10 ms spacing: bursts go out at once while the budget lasts, and a 429's Retry-After pauses everything.
"""
from __future__ import annotations

import asyncio
import time
from collections import deque


class OrderRateLimiter:
    def __init__(self, max_orders: int, per: float = 10.0, clock=time.monotonic):
        self.max_orders = max_orders
        self.per = per
        self.clock = clock
        self._sent: deque[float] = deque()
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """The venue said 429 / Retry-After: hold every order until then."""
        self._paused_until = max(self._paused_until, self.clock() + seconds)

    def _wait_time(self) -> float:
        now = self.clock()
        while self._sent and now - self._sent[0] >= self.per:
            self._sent.popleft()
        wait = self._paused_until - now
        if len(self._sent) >= self.max_orders:
            wait = max(wait, self._sent[0] + self.per - now)
        return wait

    async def acquire(self) -> None:
        while (wait := self._wait_time()) > 0:
            await asyncio.sleep(wait)
        self._sent.append(self.clock())
