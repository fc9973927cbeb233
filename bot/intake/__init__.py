"""Signal intake: sources (the websocket stream client; webhooks arrive through the API) and the format
adapters (``native``, ``tradingview``, ``mapping``) that turn a provider's payload into a native ``Signal``.

An adapter never raises anything but ``SignalError``, whose ``code`` names what was wrong; the caller
records the rejected payload, so a malformed signal is kept for inspection and never stops a stream.
"""
from bot.intake.adapters import SignalError, parse_signal

__all__ = ["SignalError", "parse_signal"]
