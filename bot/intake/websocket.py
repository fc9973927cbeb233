"""The websocket signal source (SPEC §4.2): subscribe with a token and the last processed seq, watch the
heartbeat, reconnect with exponential backoff and jitter, and resume where it left off.

Frames are handed over in order; a frame that is not a well-formed signal frame goes to ``on_bad_frame``
and the stream continues. The last processed seq is saved through ``save_seq`` so a restart resumes too.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

log = logging.getLogger("tradewire.intake")

OnSignal = Callable[[Any, int], Awaitable[None]]
OnBadFrame = Callable[[str, str], Awaitable[None]]


class WebSocketSource:
    def __init__(self, name: str, url: str, *, on_signal: OnSignal, on_bad_frame: OnBadFrame,
                 token: str | None = None, heartbeat_interval: float = 5.0, last_seq: int = 0,
                 save_seq: Callable[[int], None] = lambda seq: None,
                 on_reconnect: Callable[[], None] = lambda: None,
                 backoff: tuple[float, float] = (0.25, 30.0), rng: random.Random | None = None):
        self.name = name
        self.url = url
        self.token = token
        self.on_signal = on_signal
        self.on_bad_frame = on_bad_frame
        self.heartbeat_interval = heartbeat_interval
        self.last_seq = last_seq
        self.save_seq = save_seq
        self.on_reconnect = on_reconnect
        self.backoff_base, self.backoff_max = backoff
        self.rng = rng or random.Random()
        self.connected = asyncio.Event()
        self.connects = 0
        self.gaps = 0

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                await self._session()
                failures = 0
            except (OSError, WebSocketException, asyncio.TimeoutError, ConnectionError) as exc:
                log.warning("source %s: connection lost (%s: %s)", self.name, type(exc).__name__, exc)
            finally:
                self.connected.clear()
            failures += 1
            # Full jitter: many daemons reconnecting to one provider must not stampede it.
            delay = self.rng.uniform(0, min(self.backoff_max, self.backoff_base * 2 ** min(failures, 16)))
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        async with connect(self.url, open_timeout=10, ping_interval=None, max_size=2**20) as ws:
            await ws.send(json.dumps({"op": "subscribe", "token": self.token, "since": self.last_seq}))
            self.connects += 1
            if self.connects > 1:
                self.on_reconnect()
            self.connected.set()
            log.info("source %s: subscribed to %s since seq %d", self.name, self.url, self.last_seq)
            while True:
                # Three missed heartbeats mean the connection is dead even if TCP has not noticed.
                # (asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that arrives
                # as a frame does, and the source would outlive the daemon's stop.)
                async with asyncio.timeout(3 * self.heartbeat_interval):
                    text = await ws.recv()
                await self._frame(text if isinstance(text, str) else text.decode("utf-8", "replace"))

    async def _frame(self, text: str) -> None:
        try:
            frame = json.loads(text)
        except ValueError:
            await self.on_bad_frame(text, "frame is not JSON")
            return
        if not isinstance(frame, dict):
            await self.on_bad_frame(text, "frame is not a JSON object")
            return
        kind, seq = frame.get("type"), frame.get("seq")
        if kind == "heartbeat":
            return
        if kind != "signal" or not isinstance(seq, int) or "signal" not in frame:
            await self.on_bad_frame(text, "expected {type: signal, seq: int, signal: {...}}")
            if isinstance(seq, int) and seq == self.last_seq + 1:
                self._advance(seq)   # the bad frame is recorded; do not ask for it again
            return
        if seq <= self.last_seq:
            return                   # replayed after a reconnect and already processed
        if seq > self.last_seq + 1 and self.last_seq:
            self.gaps += 1
            log.warning("source %s: gap, seq %d follows %d (%d frames missed)", self.name, seq, self.last_seq,
                        seq - self.last_seq - 1)
        await self.on_signal(frame["signal"], seq)
        self._advance(seq)

    def _advance(self, seq: int) -> None:
        self.last_seq = seq
        self.save_seq(seq)
