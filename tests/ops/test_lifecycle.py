"""The daemon under a stand-in for systemd (SPEC §10): READY=1 only after start-up reconciliation, watchdog
pings, SIGHUP → RELOADING=1 … READY=1, SIGTERM → STOPPING=1 and exit 0."""
from __future__ import annotations

import signal
import socket
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import pytest

from .harness import base_config, clean_env, free_port, wait_for

pytestmark = pytest.mark.slow


class DaemonExited(AssertionError):
    pass


class NotifySocket:
    """What systemd listens on: an AF_UNIX datagram socket, path passed as $NOTIFY_SOCKET."""

    def __init__(self, directory: Path):
        path = directory / "notify.sock"
        if len(str(path)) > 100:  # sun_path is 108 bytes
            path = Path(tempfile.mkdtemp(prefix="tw-")) / "notify.sock"
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.messages: list[tuple[float, str]] = []

    def next(self, timeout: float) -> str | None:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096).decode()
        except (socket.timeout, TimeoutError):
            return None
        self.messages.append((time.monotonic(), data))
        return data

    def expect(self, predicate, timeout: float, what: str, daemon=None) -> str:
        """The next message matching `predicate`; fails early when `daemon` exits meanwhile."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.next(min(left, 0.5))
            if message is not None and predicate(message):
                return message
            if message is None and daemon is not None and not daemon.running:
                raise DaemonExited(f"daemon exited ({daemon.proc.returncode}) before {what}; messages "
                                   f"{[m for _, m in self.messages]}; stderr tail:\n{daemon.tail(15)}")
        raise AssertionError(f"no {what} within {timeout}s; got {[m for _, m in self.messages]}")

    def close(self) -> None:
        self.sock.close()


def _lines(message: str) -> set[str]:
    return set(message.split("\n"))


def _event_index(events: list[dict], text: str) -> int:
    return next((i for i, e in enumerate(events) if text in str(e.get("event", ""))), -1)


def is_ready(message: str) -> bool:
    return "READY=1" in _lines(message)


@pytest.fixture
def notify(tmp_path):
    sock = NotifySocket(tmp_path)
    yield sock
    sock.close()


def test_notify_ready_watchdog_reload_stop(tmp_path, spawn, notify):
    env = clean_env(NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC="2000000")
    daemon = spawn(base_config(tmp_path / "state", free_port(), rate=0.5), env=env)
    notify.expect(is_ready, 30, "READY=1", daemon)
    # Ready means ready: the API answers /readyz 200 the moment READY=1 arrives.
    status, body = daemon.get("/readyz", auth=False)
    assert status == 200, body
    assert len(notify.messages) == 1, f"messages before READY=1: {notify.messages}"

    # Watchdog: WATCHDOG_USEC=2 s → a ping about every second while healthy.
    start = time.monotonic()
    notify.expect(lambda m: m == "WATCHDOG=1", 3, "first WATCHDOG=1", daemon)
    notify.expect(lambda m: m == "WATCHDOG=1", 3, "second WATCHDOG=1", daemon)
    assert time.monotonic() - start < 4.5

    # SIGHUP: policy reload framed by RELOADING=1 (with MONOTONIC_USEC) … READY=1.
    daemon.send(signal.SIGHUP)
    reloading = notify.expect(lambda m: "RELOADING=1" in _lines(m), 5, "RELOADING=1", daemon)
    assert any(line.startswith("MONOTONIC_USEC=") for line in _lines(reloading))
    notify.expect(is_ready, 5, "READY=1 after the reload", daemon)
    wait_for(lambda: _event_index(daemon.events(), "policy reloaded") != -1, 5, what="'policy reloaded' log")
    assert daemon.running

    # SIGTERM: STOPPING=1, then a clean exit 0.
    daemon.send(signal.SIGTERM)
    notify.expect(lambda m: "STOPPING=1" in _lines(m), 5, "STOPPING=1")
    assert daemon.wait(30) == 0, daemon.tail()
    assert _event_index(daemon.events(), "stopped") != -1


def test_ready_only_after_startup_reconciliation(tmp_path, spawn, sim, notify):
    """A restart against an exchange that filled orders meanwhile reconciles them before READY=1."""
    exchange = sim(seed=3)
    account = {"venue": "sim", "url": exchange.url}
    state = tmp_path / "state"

    # 1. A first run leaves positions and resting protective legs on the exchange.
    first = spawn(base_config(state, free_port(), rate=1.0, account=account), name="first")
    first.wait_ready()
    wait_for(lambda: len([o for o in exchange.state()["orders"] if o["status"] == "NEW"]) >= 2, 15,
             what="resting protective legs at the exchange")
    assert first.stop() == 0, first.tail()

    # 2. While it is down the market moves through the legs: the exchange fills orders the daemon still
    # believes open.
    for symbol, price in exchange.state()["prices"].items():
        exchange.set_price(symbol, str(Decimal(price) * Decimal("1.2")))
        exchange.set_price(symbol, str(Decimal(price) * Decimal("0.8")))
    assert any(o["status"] == "FILLED" and "-o" in o["clientOrderId"] for o in exchange.state()["orders"])

    env = clean_env(NOTIFY_SOCKET=str(notify.path))
    daemon = spawn(base_config(state, free_port(), rate=0.5, account=account), name="second", env=env)
    notify.expect(is_ready, 30, "READY=1", daemon)
    status, body = daemon.get("/readyz", auth=False)
    assert status == 200, body
    events = daemon.events()
    reconciled_at = _event_index(events, "reconciled:")
    ready_at = _event_index(events, "Tradewire ready")
    assert reconciled_at != -1, "start-up reconciliation left no trace in the log:\n" + daemon.tail()
    assert ready_at == -1 or reconciled_at < ready_at
    assert daemon.stop() == 0
