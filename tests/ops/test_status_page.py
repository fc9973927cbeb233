"""The status page at `/` in a real browser: headless Chromium driven over the DevTools protocol loads the
page of a running demo daemon and sees orders fill live, without reloading (SPEC §7, users: risk managers)."""
from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest

from .harness import terminate, require_api

pytestmark = pytest.mark.slow

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
        try:
            if subprocess.run(install, env=env, capture_output=True, timeout=600).returncode != 0:
                subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=300)
                subprocess.run(install, env=env, capture_output=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired):
            pass
        for name in BROWSERS:
            path = shutil.which(name)
            if path:
                return path
    pytest.skip("headless Chromium is not installed (Debian: `apt-get install chromium`) and could not be "
                "installed here")


class Browser:
    """One headless Chromium with a DevTools endpoint; `page()` connects to its first tab."""

    def __init__(self, binary: str, profile: Path):
        self.proc = subprocess.Popen(
            [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", "--no-default-browser-check", "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        self.endpoint = self._endpoint()

    def _endpoint(self) -> str:
        deadline = time.monotonic() + 30
        assert self.proc.stderr is not None
        seen = []
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline().decode(errors="replace")
            if not line and self.proc.poll() is not None:
                break
            seen.append(line)
            match = re.search(r"DevTools listening on (ws://\S+)", line)
            if match:
                return match.group(1)
        raise AssertionError("chromium did not start its DevTools endpoint:\n" + "".join(seen[-20:]))

    def close(self) -> None:
        terminate(self.proc)


class Page:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse):
        self.ws = ws
        self.next_id = 0
        self.events: list[dict] = []

    async def call(self, method: str, **params) -> dict:
        self.next_id += 1
        call_id = self.next_id
        await self.ws.send_json({"id": call_id, "method": method, "params": params})
        while True:
            message = await asyncio.wait_for(self.ws.receive_json(), 15)
            if message.get("id") == call_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    async def text(self) -> str:
        result = await self.call("Runtime.evaluate", expression="document.body ? document.body.innerText : ''",
                                 returnByValue=True)
        return result.get("result", {}).get("value") or ""

    def errors(self) -> list[str]:
        out = []
        for event in self.events:
            if event.get("method") == "Runtime.exceptionThrown":
                details = event["params"]["exceptionDetails"]
                out.append(details.get("exception", {}).get("description") or details.get("text", ""))
            elif event.get("method") == "Runtime.consoleAPICalled" and event["params"].get("type") == "error":
                out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in event["params"]["args"]))
        return out


@pytest.fixture
def browser(tmp_path):
    chromium = Browser(find_browser(), tmp_path / "chromium-profile")
    yield chromium
    chromium.close()


def _signal_numbers(text: str) -> set[int]:
    return {int(n) for n in re.findall(r"demo-(?:[0-9a-f]+-)?(\d{6})\b", text)}


async def test_status_page_shows_fills_live(demo_daemon, browser):
    key = require_api(demo_daemon, "/v1/orders")
    status, body = demo_daemon.get("/", auth=False)
    assert status == 200, body

    host_port = browser.endpoint.split("/")[2]
    async with aiohttp.ClientSession() as session:
        async with session.put(f"http://{host_port}/json/new?about:blank") as resp:
            target = await resp.json(content_type=None)
        async with session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            page = Page(ws)
            await page.call("Runtime.enable")
            await page.call("Page.enable")
            await page.call("Page.navigate", url=f"{demo_daemon.url}/?key={key}")

            # The page renders with data (it may load some over its own API calls first).
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            first = ""
            while loop.time() < deadline:
                first = await page.text()
                if "FILLED" in first.upper() or _signal_numbers(first):
                    break
                await asyncio.sleep(0.2)
            assert first.strip(), "the status page rendered nothing"
            seen_at_load = max(_signal_numbers(first), default=0)

            # Live updates, without a reload: an order of a signal newer than anything on the page at load
            # time appears as a FILLED row (the page keeps itself current from /v1/stream).
            def new_fills(text: str) -> list[str]:
                return [line for line in text.splitlines() if "FILLED" in line.upper()
                        and max(_signal_numbers(line), default=0) > seen_at_load]

            deadline = loop.time() + 15
            text = first
            while loop.time() < deadline:
                text = await page.text()
                if new_fills(text):
                    break
                await asyncio.sleep(0.25)
            navigations = [e for e in page.events if e.get("method") == "Page.frameNavigated"
                           and not e["params"]["frame"].get("parentId")]
            assert len(navigations) <= 1, "the page reloaded itself instead of updating live"
            assert new_fills(text), (f"no newly filled order on the status page within 15 s (newest signal at "
                                     f"load: demo-{seen_at_load:06d}):\n{text[:3000]}")
            assert not page.errors(), f"JavaScript errors on the status page: {page.errors()}"
