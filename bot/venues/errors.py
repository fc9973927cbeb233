"""ccxt exceptions → the outcomes execution acts on. The one place that knows ccxt's exception tree.

- ``Rejected(code)``: the venue definitely refused; nothing exists. Terminal.
- ``RateLimited(retry_after)``: refused before processing (429/418/-1015); nothing exists; retry later.
- ``Retryable``: a read or cancel failed in transit; safe to repeat.
- ``Unknown``: a submit whose fate is unknown (timeout, 5xx, -1007, dropped connection): the order may
  exist. Never resend blindly: look it up by client id first.
- ``Fatal``: credentials or configuration are wrong; retrying cannot help.
"""
from __future__ import annotations

import re

import ccxt


class VenueError(Exception):
    kind = "error"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code


class Rejected(VenueError):
    kind = "rejected"


class RateLimited(VenueError):
    kind = "rate_limited"

    def __init__(self, message: str, retry_after: float = 1.0):
        super().__init__(message, "RATE_LIMITED")
        self.retry_after = retry_after


class Retryable(VenueError):
    kind = "retryable"


class Unknown(VenueError):
    kind = "unknown"


class Fatal(VenueError):
    kind = "fatal"


# Specific classes first: ccxt's hierarchy nests (InvalidNonce is a NetworkError, OrderNotFound an InvalidOrder).
_REJECTED_CODES: list[tuple[type[Exception], str]] = [
    (ccxt.InsufficientFunds, "INSUFFICIENT_BALANCE"),
    (ccxt.OrderNotFound, "ORDER_NOT_FOUND"),
    (ccxt.BadSymbol, "SYMBOL_NOT_TRADEABLE"),
    (ccxt.InvalidOrder, "INVALID_ORDER"),
    (ccxt.BadRequest, "INVALID_REQUEST"),
]
_BINANCE_CODE = re.compile(r'"code"\s*:\s*(-?\d+)')


def venue_code(exc: Exception) -> str | None:
    """The venue's own error code when the message carries one (Binance: ``{"code":-2010,...}``)."""
    match = _BINANCE_CODE.search(str(exc))
    return match.group(1) if match else None


def classify(exc: Exception, *, submit: bool, retry_after: float | None = None) -> VenueError:
    """Maps a ccxt exception; ``submit`` marks calls that may have created an order."""
    message = f"{type(exc).__name__}: {exc}"[:500]
    if isinstance(exc, (ccxt.RateLimitExceeded, ccxt.DDoSProtection)):
        return RateLimited(message, retry_after or 1.0)
    if isinstance(exc, ccxt.InvalidNonce):
        # The request was refused for its timestamp before anything happened: safe to resend after resync.
        return Retryable(message, "INVALID_NONCE")
    if isinstance(exc, (ccxt.AuthenticationError, ccxt.PermissionDenied, ccxt.AccountSuspended)):
        return Fatal(message, "AUTHENTICATION")
    for cls, code in _REJECTED_CODES:
        if isinstance(exc, cls):
            return Rejected(message, code)
    if isinstance(exc, (ccxt.NetworkError, ccxt.OperationFailed, ccxt.ExchangeError)):
        # Timeouts, 5xx, -1000/-1001/-1007, dropped sockets: the venue may have acted.
        return Unknown(message, "UNKNOWN") if submit else Retryable(message, "NETWORK")
    return Unknown(message, "UNKNOWN") if submit else Retryable(message, "ERROR")
