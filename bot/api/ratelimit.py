"""Per-key request rate limits in fixed windows, reported with the IETF draft headers (``RateLimit-Policy``,
``RateLimit``) and the customary ``X-RateLimit-*`` ones. Requests without a key are limited per client IP."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass


@dataclass
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset: float          # seconds until the window ends
    window: float

    def headers(self) -> dict[str, str]:
        reset = max(1, math.ceil(self.reset))
        window = int(self.window) if float(self.window).is_integer() else self.window
        headers = {
            "RateLimit-Policy": f'"default";q={self.limit};w={window}',
            "RateLimit": f'"default";r={self.remaining};t={reset}',
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(reset),
        }
        if not self.allowed:
            headers["Retry-After"] = str(reset)
        return headers


class RateLimiter:
    def __init__(self, clock=time.monotonic, max_entries: int = 10_000):
        self.clock = clock
        self.max_entries = max_entries
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, bucket: str, limit: int, window: float) -> Verdict:
        now = self.clock()
        start, count = self._windows.get(bucket, (now, 0))
        if now - start >= window:
            start, count = now, 0
        reset = window - (now - start)
        if count >= limit:
            return Verdict(False, limit, 0, reset, window)
        count += 1
        if len(self._windows) >= self.max_entries and bucket not in self._windows:
            self._prune(now)
        self._windows[bucket] = (start, count)
        return Verdict(True, limit, limit - count, reset, window)

    def _prune(self, now: float) -> None:
        # Drop windows that have ended (their counts no longer matter); bounded memory under many IPs.
        for bucket, (start, _) in list(self._windows.items()):
            if now - start >= 3600:
                del self._windows[bucket]
        if len(self._windows) >= self.max_entries:
            self._windows.clear()
