"""The systemd notify protocol (sd_notify(3)) and a watchdog task, without third-party packages.

Every function is a no-op returning False when the daemon does not run under systemd (`$NOTIFY_SOCKET`
unset), so the daemon calls them unconditionally. Sending never raises: a lost notification must not take the
trading process down (systemd's own timeouts catch a daemon that really stopped talking).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable

from bot.obs.logging import get_logger

__all__ = [
    "Watchdog",
    "extend_timeout",
    "notify",
    "ready",
    "reloading",
    "status",
    "stopping",
    "watchdog",
    "watchdog_interval",
]

log = get_logger("bot.obs.sdnotify")


def notify(message: str) -> bool:
    """Send `message` (newline-separated VAR=value assignments) to `$NOTIFY_SOCKET`; True if it was sent."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace socket
        address = "\0" + address[1:]
    elif not address.startswith("/"):  # vsock (for VMs) is not supported here
        log.warning("sdnotify.unsupported_socket", address=address)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            # Non-blocking: this runs on the event loop; a full queue at systemd loses one message, not the loop.
            sock.setblocking(False)
            sock.sendto(message.encode(), address)
    except OSError as exc:
        log.warning("sdnotify.send_failed", error=str(exc), message=message)
        return False
    return True


def ready() -> bool:
    """Start-up (or a reload) is complete: config, policy, markets, reconciliation and streams are up."""
    return notify("READY=1")


def stopping() -> bool:
    """Shutdown has begun (SIGTERM): systemd stops expecting watchdog pings."""
    return notify("STOPPING=1")


def reloading() -> bool:
    """A reload (SIGHUP) has begun; send `ready()` when it is done. MONOTONIC_USEC is what systemd ≥ 253 needs."""
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return notify(f"RELOADING=1\nMONOTONIC_USEC={usec}")


def watchdog() -> bool:
    """One watchdog keep-alive ping."""
    return notify("WATCHDOG=1")


def extend_timeout(seconds: float) -> bool:
    """Ask for `seconds` more for the current start-up, reload or shutdown (e.g. a long reconciliation)."""
    return notify(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")


def status(text: str) -> bool:
    """A one-line status shown by `systemctl status`."""
    return notify("STATUS=" + " ".join(text.splitlines()))


def watchdog_interval() -> float | None:
    """The watchdog timeout in seconds that systemd expects pings within, or None when there is no watchdog.

    `$WATCHDOG_PID` set to another process means the variables were inherited and are not meant for us.
    """
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec:
        return None
    if pid and pid != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 1_000_000 if value > 0 else None


class Watchdog:
    """Pings WATCHDOG=1 every half interval, but only while the process is demonstrably healthy.

    Health = the event-loop lag measured here (how late a short sleep wakes up) is below `max_lag`, and the
    daemon's `healthy()` callback (e.g. venue streams connected) returns True. When either fails, pings stop
    and systemd restarts the service after `WatchdogSec`; a recovery within that time resumes them. Without
    a watchdog interval the task still measures lag for `on_lag` (the event-loop lag gauge).
    """

    def __init__(
        self,
        healthy: Callable[[], bool] = lambda: True,
        *,
        interval: float | None = None,
        max_lag: float = 1.0,
        probe: float = 0.5,
        on_lag: Callable[[float], None] | None = None,
    ) -> None:
        """`interval` defaults to `watchdog_interval()`; `probe` is how often the lag is measured (seconds)."""
        self.healthy = healthy
        self.interval = interval if interval is not None else watchdog_interval()
        self.max_lag = max_lag
        self.probe = min(probe, self.interval / 2) if self.interval else probe
        self.on_lag = on_lag
        self.lag = 0.0
        self.pings = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> asyncio.Task[None] | None:
        """Run in the background; None when there is nothing to do (no watchdog and no `on_lag`)."""
        if self.interval is None and self.on_lag is None:
            return None
        self._task = asyncio.get_running_loop().create_task(self.run(), name="sd-watchdog")
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_ping = loop.time()
        was_healthy = True
        while True:
            before = loop.time()
            await asyncio.sleep(self.probe)
            self.lag = max(0.0, loop.time() - before - self.probe)
            if self.on_lag is not None:
                self.on_lag(self.lag)
            if self.interval is None or loop.time() < next_ping:
                continue
            ok = self.lag < self.max_lag and self._callback_healthy()
            if ok:
                watchdog()
                self.pings += 1
                next_ping = loop.time() + self.interval / 2
            if ok != was_healthy:
                # One line per transition, not one per probe.
                (log.info if ok else log.warning)("watchdog.health_changed", healthy=ok, lag=round(self.lag, 4))
                was_healthy = ok

    def _callback_healthy(self) -> bool:
        try:
            return bool(self.healthy())
        except Exception:
            log.exception("watchdog.health_check_failed")
            return False
