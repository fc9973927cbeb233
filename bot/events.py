"""The in-process event bus: components publish typed events (``order.updated``, ``fill``,
``position.updated``, ``signal.decided``, ``breaker.changed``, ``error``, ...) and subscribers (API stream,
webhook outbox, metrics, logs, breakers) receive them synchronously. Subscribers must be quick and must not
raise: anything slow queues the event and returns.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("tradewire.events")

Subscriber = Callable[[str, dict[str, Any]], None]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def publish(self, event_type: str, payload: dict[str, Any]) -> None:
        payload = {"type": event_type, "ts": time.time(), **payload}
        for subscriber in list(self._subscribers):
            try:
                subscriber(event_type, payload)
            except Exception:  # one broken subscriber must not stop the others or the trading path
                log.exception("event subscriber %r failed on %s", subscriber, event_type)
