"""A venue breaker driven by real failures: a burst of simulator 5xx opens it, signals are refused with
BREAKER_OPEN, and after the cool-down one probe order closes it again."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import aiohttp

from bot.daemon import Daemon

from tests.api.conftest import POLICY, settings_for

FAST_BREAKER = POLICY.replace("venues:\n  default: {breaker: {consecutive_failures: 50, cooldown: 30s}}",
                              "venues:\n  default: {breaker: {consecutive_failures: 3, cooldown: 1s}}")


def signal(sid: str) -> dict:
    return {"id": sid, "symbol": "BTC/USDT", "action": "open", "side": "buy",
            "generated_at": datetime.now(timezone.utc).isoformat()}


def state(daemon: Daemon) -> str:
    return next(b["state"] for b in daemon.gate.breakers() if b["name"] == "venue:main")


async def until(condition, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_venue_breaker_trips_on_5xx_and_recovers_through_a_probe(tmp_path):
    assert FAST_BREAKER != POLICY
    (tmp_path / "policy.yaml").write_text(FAST_BREAKER)
    daemon = Daemon(settings_for(tmp_path, execution={"unknown_grace": 0.05}))
    await daemon.start()
    sim = daemon.sims[0].url
    try:
        async with aiohttp.ClientSession() as http:
            await http.post(f"{sim}/_sim/faults", json={"rules": [
                {"match": "POST /api/v3/order", "fault": "http_500", "rate": 1.0}]})
            first = await daemon.pipeline.submit_payload(signal("b-1"), "hook")
            assert first.status == "ACCEPTED"          # accepted by the policy; the venue then fails
            await until(lambda: state(daemon) == "OPEN")
            refused = await daemon.pipeline.submit_payload(signal("b-2"), "hook")
            assert (refused.status, refused.code) == ("REJECTED", "BREAKER_OPEN")

            await http.delete(f"{sim}/_sim/faults")
            await asyncio.gather(*daemon.execution._sends, return_exceptions=True)
            await until(lambda: state(daemon) == "HALF_OPEN")     # after the cool-down
            probe = await daemon.pipeline.submit_payload(signal("b-3"), "hook")
            assert probe.status == "ACCEPTED"
            await until(lambda: state(daemon) == "CLOSED")        # the probe order went through
    finally:
        await daemon.stop()
