"""Venue adapters: the small protocol execution talks to, and ``CcxtVenue``, the only module that imports
ccxt. ccxt's exceptions are mapped once, in ``errors``, into a closed set of outcomes (Rejected, Retryable,
Unknown, RateLimited, Fatal) so that execution decides from meaning, not from exception classes.
"""
from bot.venues.base import Capabilities, VenueOrder, VenueTrade
from bot.venues.errors import Fatal, RateLimited, Rejected, Retryable, Unknown, VenueError

__all__ = ["Capabilities", "Fatal", "RateLimited", "Rejected", "Retryable", "Unknown", "VenueError",
           "VenueOrder", "VenueTrade"]
