"""Shared bench plumbing: statistics, machine facts, RSS, the simulator subprocess, and wire timestamps.

Wire timestamps come from an aiohttp ``TraceConfig`` on the session ccxt uses (installed before ccxt opens
its own): ``on_request_chunk_sent`` fires when aiohttp has written the request body to the transport, which
is the closest point to "the order request is on the wire" that can be seen from outside ``bot/``.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import parse_qsl

import aiohttp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- statistics -----------------------------------------------------------------------------------

def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, int(round(q / 100 * (len(ordered) - 1)))))
    return ordered[k]


def summary_ms(values: Iterable[float]) -> dict:
    """Seconds in, milliseconds out: n, p50, p90, p99, max, mean."""
    vals = [v * 1000 for v in values]
    if not vals:
        return {"n": 0, "p50": None, "p90": None, "p99": None, "max": None, "mean": None}
    return {"n": len(vals), "p50": _r(pct(vals, 50)), "p90": _r(pct(vals, 90)), "p99": _r(pct(vals, 99)),
            "max": _r(max(vals)), "mean": _r(statistics.fmean(vals))}


def _r(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(x, digits)


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or not b:
        return None
    return round(a / b, 2)


# -- machine --------------------------------------------------------------------------------------

def machine_info() -> dict:
    import ccxt
    cpu = ""
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "nproc": os.cpu_count(),
            "cpu": cpu, "python": platform.python_version(), "implementation": platform.python_implementation(),
            "platform": platform.platform(), "ccxt": ccxt.__version__, "aiohttp": aiohttp.__version__,
            "commit": _git("rev-parse", "--short", "HEAD"), "dirty_bot": bool(_git("status", "--porcelain", "bot"))}


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def rss_mb(pid: int | None = None) -> float:
    path = f"/proc/{pid or 'self'}/status"
    with open(path) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def python() -> str:
    return sys.executable


# -- the simulator in its own process -----------------------------------------------------------

class SimProcess:
    """``python -m bench.simproc`` on a free port: the exchange on its own core, like a real venue."""

    def __init__(self, symbols: list[str] | None = None, price_model: str = "walk"):
        self.symbols = symbols or ["BTC/USDT", "ETH/USDT"]
        self.price_model = price_model
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout: float = 30.0) -> "SimProcess":
        self.proc = subprocess.Popen(
            [python(), "-m", "bench.simproc", "--symbols", ",".join(self.symbols), "--price-model",
             self.price_model], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith("sim: "):
                self.url = line.split(" ", 1)[1].strip()
                return self
            if not line and self.proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError("bench simulator did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> "SimProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    async def handler_times(self, clear: bool = True) -> dict[str, list[float]]:
        async with aiohttp.ClientSession() as s:
            async with s.get(self.url + "/_bench/handler") as r:
                data = await r.json()
            if clear:
                async with s.delete(self.url + "/_bench/handler"):
                    pass
        return data

    async def clear_handler_times(self) -> None:
        async with aiohttp.ClientSession() as s:
            async with s.delete(self.url + "/_bench/handler"):
                pass

    async def control(self, method: str, path: str, body=None) -> dict:
        async with aiohttp.ClientSession() as s:
            async with s.request(method, self.url + path, json=body) as r:
                return await r.json()


# -- wire timestamps ------------------------------------------------------------------------------

ID_KEYS = ("newClientOrderId", "listClientOrderId", "aboveClientOrderId", "belowClientOrderId")


@dataclass
class WireRecord:
    path: str
    fetch: float | None = None      # ccxt's fetch() entered (request signed, about to hand to aiohttp)
    start: float | None = None      # aiohttp on_request_start
    wire: float | None = None       # aiohttp wrote the body to the transport
    end: float | None = None        # response headers received (on_request_end)


@dataclass
class WireTracer:
    """Per client order id: when its POST reached ccxt's fetch, the socket, and came back."""

    records: dict[str, WireRecord] = field(default_factory=dict)
    posts: list[WireRecord] = field(default_factory=list)

    def attach(self, exchange) -> None:
        """Call inside the running loop, before the exchange's first request."""
        trace = aiohttp.TraceConfig()
        trace.on_request_start.append(self._on_start)
        trace.on_request_chunk_sent.append(self._on_chunk)
        trace.on_request_end.append(self._on_end)
        exchange.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False), trace_configs=[trace])
        original = exchange.fetch
        tracer = self

        async def fetch(url, method="GET", headers=None, body=None):
            if method == "POST" and body:
                now = time.perf_counter()
                for key, value in parse_qsl(body):
                    if key in ID_KEYS:
                        tracer.records.setdefault(value, WireRecord(url)).fetch = now
            return await original(url, method, headers, body)

        exchange.fetch = fetch

    async def _on_start(self, session, ctx, params) -> None:
        ctx.bench_start = time.perf_counter()
        ctx.bench_ids = []

    async def _on_chunk(self, session, ctx, params) -> None:
        now = time.perf_counter()
        try:
            pairs = parse_qsl(params.chunk.decode())
        except (UnicodeDecodeError, AttributeError):
            return
        ids = [value for key, value in pairs if key in ID_KEYS]
        for cid in ids:
            rec = self.records.setdefault(cid, WireRecord(""))
            rec.start = getattr(ctx, "bench_start", None)
            if rec.wire is None:
                rec.wire = now
        if ids:
            ctx.bench_ids = ids

    async def _on_end(self, session, ctx, params) -> None:
        now = time.perf_counter()
        for cid in getattr(ctx, "bench_ids", []):
            rec = self.records.get(cid)
            if rec is not None:
                rec.end = now
                rec.path = str(params.url.path)


def dumps(data) -> str:
    return json.dumps(data, indent=2, sort_keys=False, default=str)


async def gather_limited(coros, limit: int):
    sem = asyncio.Semaphore(limit)

    async def one(c):
        async with sem:
            return await c
    return await asyncio.gather(*(one(c) for c in coros), return_exceptions=True)
