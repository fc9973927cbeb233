"""Builds the aiohttp application on the daemon's components and serves it on ``api.listen``."""
from __future__ import annotations

from typing import Any

from aiohttp import web


def create_app(daemon: Any) -> web.Application:
    app = web.Application()

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        return web.json_response({"ready": daemon.ready}, status=200 if daemon.ready else 503)

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=daemon.metrics.render(), headers={"Content-Type": daemon.metrics.content_type})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


async def start_api(daemon: Any) -> tuple[web.AppRunner, str]:
    host, port = daemon.settings.api.host_port
    runner = web.AppRunner(create_app(daemon), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1] if site._server and site._server.sockets else port
    return runner, f"http://{host}:{bound}"
