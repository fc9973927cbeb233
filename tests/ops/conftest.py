from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from .harness import DaemonProcess, SimProcess, base_config, free_port


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., DaemonProcess]]:
    """Factory: spawn(config=None, **kw) starts a daemon in tmp_path; every one is stopped on teardown."""
    started: list[DaemonProcess] = []

    def start(config: dict[str, Any] | None = None, *, name: str = "daemon", **kw: Any) -> DaemonProcess:
        if config is None:
            config = base_config(tmp_path / f"{name}-state", free_port())
        proc = DaemonProcess(tmp_path, config, name=name, **kw).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.stop(timeout=20) is None:
            proc.kill()


@pytest.fixture(scope="module")
def demo_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    """One demo daemon shared by the read-only tests of a module (feed at 2 signals/s)."""
    workdir = tmp_path_factory.mktemp("demo")
    proc = DaemonProcess(workdir, base_config(workdir / "state", free_port(), rate=2.0)).start()
    try:
        proc.wait_ready()
        proc.demo_key(timeout=3)
        yield proc
    finally:
        if proc.stop(timeout=20) is None:
            proc.kill()


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Callable[..., SimProcess]]:
    """Factory: sim(**SimConfig fields) starts a simulated exchange process, stopped on teardown."""
    started: list[SimProcess] = []

    def start(**config: Any) -> SimProcess:
        proc = SimProcess(tmp_path, **config)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()
