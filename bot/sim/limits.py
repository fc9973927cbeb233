"""Binance-like request accounting: request weight per minute and the order count per 10 seconds."""
from __future__ import annotations

import math
import time
from collections import deque

from .errors import BinanceError


class Limits:
    def __init__(self, order_limit: int, order_window: float):
        self.order_limit = order_limit
        self.order_window = order_window
        self._weights: deque[tuple[float, int]] = deque()
        self._orders: deque[float] = deque()
        self.used_weight = 0

    def add_weight(self, weight: int) -> int:
        now = time.monotonic()
        while self._weights and self._weights[0][0] <= now - 60:
            self.used_weight -= self._weights.popleft()[1]
        self._weights.append((now, weight))
        self.used_weight += weight
        return self.used_weight

    def order_count(self) -> int:
        now = time.monotonic()
        while self._orders and self._orders[0] <= now - self.order_window:
            self._orders.popleft()
        return len(self._orders)

    def take_orders(self, count: int) -> int:
        """Count ``count`` new orders, or raise 429 / -1015 with Retry-After when over the limit."""
        current = self.order_count()
        if current + count > self.order_limit:
            wait = self._orders[0] + self.order_window - time.monotonic() if self._orders else self.order_window
            raise BinanceError(
                -1015, f"Too many new orders; current limit is {self.order_limit} orders per "
                       f"{int(self.order_window)} SECOND.", status=429,
                headers={"Retry-After": str(max(1, math.ceil(wait)))})
        now = time.monotonic()
        self._orders.extend([now] * count)
        return current + count

    def reset(self) -> None:
        self._weights.clear()
        self._orders.clear()
        self.used_weight = 0
