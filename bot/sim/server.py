"""SimServer: binds the aiohttp app (REST, websockets, control API) on loopback and runs the price ticker."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiohttp import web

from .config import SimConfig
from .control import Control
from .engine import Engine
from .faults import Faults
from .limits import Limits
from .rest import RestApi
from .streams import Streams

log = logging.getLogger(__name__)


class SimServer:
    def __init__(self, config: SimConfig | None = None):
        self.config = config or SimConfig()
        self.engine = Engine(self.config, self._clock)
        self.limits = Limits(self.config.order_rate_limit, self.config.order_rate_window)
        self.faults = Faults(self.config.seed)
        self.streams = Streams(self.engine)
        self.port: int = self.config.port
        self.url: str = ""
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task | None = None

    def _clock(self) -> int:
        return int(time.time() * 1000) + self.config.clock_offset_ms

    def build_app(self) -> web.Application:
        control = Control(self)
        rest = RestApi(self.engine, self.limits, self.faults, self._stopping)
        app = web.Application(middlewares=[control.loopback_only])
        app.add_routes(control.routes())
        app.router.add_route("*", "/api/v3/{tail:.*}", rest.dispatch)
        app.router.add_get("/ws-api/v3", self.streams.ws_api)
        app.router.add_get("/ws", self.streams.public)
        app.router.add_get("/ws/{tail:.*}", self.streams.public)
        app.router.add_get("/stream", self.streams.public)
        return app

    async def start(self) -> None:
        self._stopping = asyncio.Event()
        app = self.build_app()
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://{self.config.host}:{self.port}"
        self._ticker = asyncio.ensure_future(self._tick_loop())

    async def _tick_loop(self) -> None:
        if self.config.price_model == "static" or self.config.tick_interval <= 0:
            return
        while True:
            await asyncio.sleep(self.config.tick_interval)
            for market in list(self.engine.data.markets.values()):
                try:
                    self.engine.step(market)
                except Exception:   # a bug in one step must not freeze the market for the whole run
                    log.exception("sim price step failed for %s", market.symbol)

    def reset(self) -> None:
        self.engine.reset()
        self.limits.reset()
        self.faults.clear()

    async def stop(self) -> None:
        self._stopping.set()   # releases requests held open by timeout faults
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self.streams.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "SimServer":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()
