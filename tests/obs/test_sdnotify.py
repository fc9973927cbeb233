import asyncio
import os
import socket
import time

import pytest

from bot.obs import sdnotify


@pytest.fixture
def notify_socket(tmp_path, monkeypatch):
    """A real AF_UNIX datagram socket standing in for systemd's notify socket."""
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


def _drain(sock: socket.socket) -> list[str]:
    messages = []
    while True:
        try:
            messages.append(sock.recv(4096).decode())
        except BlockingIOError:
            return messages


def test_messages_arrive(notify_socket):
    assert sdnotify.ready()
    assert sdnotify.status("reconciling\nmain")
    assert sdnotify.watchdog()
    assert sdnotify.extend_timeout(1.5)
    assert sdnotify.stopping()
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert sdnotify.reloading()
    messages = _drain(notify_socket)
    assert messages[:5] == [
        "READY=1",
        "STATUS=reconciling main",
        "WATCHDOG=1",
        "EXTEND_TIMEOUT_USEC=1500000",
        "STOPPING=1",
    ]
    reload_lines = messages[5].split("\n")
    assert reload_lines[0] == "RELOADING=1"
    usec = int(reload_lines[1].removeprefix("MONOTONIC_USEC="))
    assert before <= usec <= before + 10_000_000


def test_abstract_socket(monkeypatch):
    name = f"tradewire-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sdnotify.notify("READY=1")
        assert sock.recv(100) == b"READY=1"


def test_no_socket_is_a_noop(monkeypatch, tmp_path):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.ready() is False
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    assert sdnotify.watchdog() is False  # logged, never raised


def test_watchdog_interval(monkeypatch):
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert sdnotify.watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    assert sdnotify.watchdog_interval() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert sdnotify.watchdog_interval() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))  # inherited from a parent: not ours
    assert sdnotify.watchdog_interval() is None
    monkeypatch.delenv("WATCHDOG_PID")
    monkeypatch.setenv("WATCHDOG_USEC", "0")
    assert sdnotify.watchdog_interval() is None


async def test_watchdog_pings_only_while_healthy(notify_socket):
    state = {"healthy": True}
    lags = []
    dog = sdnotify.Watchdog(lambda: state["healthy"], interval=0.1, probe=0.01, on_lag=lags.append)
    assert dog.start() is not None
    await asyncio.sleep(0.3)
    healthy_pings = len(_drain(notify_socket))
    assert 3 <= healthy_pings <= 8  # every half interval

    state["healthy"] = False
    await asyncio.sleep(0.06)  # a ping may already be under way
    _drain(notify_socket)
    await asyncio.sleep(0.25)
    assert _drain(notify_socket) == []

    state["healthy"] = True
    await asyncio.sleep(0.15)
    assert "WATCHDOG=1" in _drain(notify_socket)
    await dog.stop()
    assert lags and all(lag >= 0 for lag in lags)


async def test_watchdog_withholds_pings_while_the_loop_is_blocked(notify_socket):
    dog = sdnotify.Watchdog(interval=0.1, probe=0.01, max_lag=0.05)
    dog.start()
    await asyncio.sleep(0.12)
    _drain(notify_socket)
    time.sleep(0.2)  # blocks the event loop: the next probe sees the lag
    await asyncio.sleep(0.005)
    assert dog.lag >= 0.05
    assert _drain(notify_socket) == []
    await asyncio.sleep(0.15)  # loop responsive again: pings resume
    assert "WATCHDOG=1" in _drain(notify_socket)
    await dog.stop()


async def test_watchdog_without_interval_or_lag_consumer_does_nothing(monkeypatch):
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert sdnotify.Watchdog().start() is None


async def test_failing_health_callback_counts_as_unhealthy(notify_socket):
    def broken() -> bool:
        raise RuntimeError("boom")

    dog = sdnotify.Watchdog(broken, interval=0.05, probe=0.01)
    dog.start()
    await asyncio.sleep(0.15)
    await dog.stop()
    assert dog.pings == 0 and _drain(notify_socket) == []
