"""Live quotes per symbol from the venue's market streams (ccxt.pro watch_ticker), REST as a fallback.

The policy reads quotes through ``quote()``; a quote older than ``max_age`` counts as no quote, so slippage
and notional checks fail closed when the stream is stale.
"""
from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal

from bot.policy import Quote
from bot.venues.errors import VenueError

log = logging.getLogger("tradewire.market")


class MarketData:
    def __init__(self, max_age: float = 30.0, clock=time.time):
        self.max_age = max_age
        self.clock = clock
        self._quotes: dict[str, Quote] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def update(self, symbol: str, bid: Decimal | None, ask: Decimal | None, last: Decimal | None,
               ts: float | None = None) -> None:
        previous = self._quotes.get(symbol)
        if last is None and previous is not None:
            last = previous.last      # a book-ticker update carries no trade price
        self._quotes[symbol] = Quote(bid=bid, ask=ask, last=last, ts=ts or self.clock())

    def quote(self, symbol: str) -> Quote | None:
        quote = self._quotes.get(symbol)
        if quote is None or self.clock() - quote.ts > self.max_age:
            return None
        return quote

    def price(self, symbol: str) -> Decimal | None:
        """Mid price when both sides are known, else the last trade; None when stale or unknown."""
        quote = self.quote(symbol)
        if quote is None:
            return None
        if quote.bid is not None and quote.ask is not None:
            return (quote.bid + quote.ask) / 2
        return quote.last

    async def prime(self, venue, symbols: list[str]) -> None:
        for symbol in symbols:
            try:
                bid, ask, last, _ = await venue.fetch_quote(symbol)
                self.update(symbol, bid, ask, last)
            except VenueError as exc:
                log.warning("no initial quote for %s: %s", symbol, exc)

    def start(self, venue, symbols: list[str]) -> None:
        self._tasks += [asyncio.create_task(self._watch(venue, symbol)) for symbol in symbols]

    async def _watch(self, venue, symbol: str) -> None:
        while True:
            try:
                bid, ask, last, _ = await venue.watch_quote(symbol)
                # Stamp with our clock: staleness is about when we heard, not the venue's event time.
                self.update(symbol, bid, ask, last)
            except VenueError as exc:
                log.warning("market stream %s: %s; retrying", symbol, exc)
                await asyncio.sleep(1.0)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
