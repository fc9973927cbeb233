"""The signal path inside a real daemon (in-process simulator): at-most-once per (source, id), strategy
failures contained, closing signals, and signals left undecided by a crash."""
from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from datetime import datetime, timezone

import aiohttp
import pytest

from bot.daemon import Daemon
from bot.model import Leg, OrderStatus, Side
from bot.policy.gate import Reservation
from bot.sim import SimConfig, SimServer

from tests.api.conftest import settings_for


class Boom:
    def on_signal(self, signal, ctx):
        raise RuntimeError("strategy bug")


def signal(sid: str, **extra) -> dict:
    return {"id": sid, "symbol": "BTC/USDT", "action": "open", "side": "buy",
            "generated_at": datetime.now(timezone.utc).isoformat(), **extra}


@pytest.fixture
async def daemon(tmp_path):
    d = Daemon(settings_for(tmp_path, strategies=[
        {"name": "follow", "handler": "strategies.follow:Follow", "sources": ["hook"], "account": "main",
         "params": {"notional": "100"}},
        {"name": "boom", "handler": "tests.test_pipeline:Boom", "sources": ["tv"], "account": "main"}]))
    await d.start()
    yield d
    await d.stop()


async def settle(condition, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_duplicate_signal_gets_the_first_result_and_no_second_order(daemon):
    first = await daemon.pipeline.submit_payload(signal("s-1"), "hook")
    assert first.status == "ACCEPTED" and len(first.orders) == 1
    again = await daemon.pipeline.submit_payload(signal("s-1"), "hook")
    assert again.status == "DUPLICATE" and again.orders == first.orders
    assert len(daemon.store.orders_for_signal("hook:s-1")) == 1


async def test_strategy_failure_rejects_only_that_signal(daemon):
    result = await daemon.pipeline.submit_payload(signal("s-2"), "tv")
    assert (result.status, result.code) == ("REJECTED", "STRATEGY_ERROR")
    assert "strategy bug" in result.detail
    assert (await daemon.pipeline.submit_payload(signal("s-3"), "hook")).status == "ACCEPTED"


async def test_invalid_signal_is_recorded_with_its_reason(daemon):
    result = await daemon.pipeline.submit_payload('{"id": "s-4", "symbol": "BTC/USDT"}', "hook")
    assert (result.status, result.code) == ("INVALID", "INVALID_SIGNAL")
    stored = daemon.store.get_signal("hook:s-4")
    assert stored["status"] == "INVALID" and "action" in stored["detail"]


async def test_close_signal_cancels_legs_and_exits(daemon):
    opened = await daemon.pipeline.submit_payload(signal("s-5", stop_loss="60000", take_profit="75000"), "hook")
    assert opened.status == "ACCEPTED"
    entry_id = opened.orders[0]
    legs = lambda: [o for o in daemon.store.children(entry_id) if o.leg in (Leg.STOP_LOSS, Leg.TAKE_PROFIT)]
    await settle(lambda: legs() and all(o.status is OrderStatus.OPEN for o in legs()))
    closed = await daemon.pipeline.submit_payload(
        {"id": "s-6", "symbol": "BTC/USDT", "action": "close",
         "generated_at": datetime.now(timezone.utc).isoformat()}, "hook")
    assert closed.status == "ACCEPTED"
    await settle(lambda: daemon.execution.positions.quantity("main", "BTC/USDT") == 0)
    assert all(o.status.terminal for o in legs())


async def test_undecided_signals_are_decided_after_a_restart(tmp_path):
    # A simulator that outlives the daemon (an in-process one starts empty, and so does the daemon with it).
    sim = SimServer(SimConfig(price_model="static"))
    await sim.start()
    settings = settings_for(tmp_path, accounts={"main": {"venue": "sim", "url": sim.url}})
    first = Daemon(settings)
    await first.start()
    raw = signal("s-7")
    first.store.record_signal("hook:s-7", "hook", "s-7", json.dumps(raw))   # received, then the process died
    await first.stop()
    second = Daemon(settings)
    await second.start()
    try:
        assert second.store.get_signal("hook:s-7")["status"] == "ACCEPTED"
        assert len(second.store.orders_for_signal("hook:s-7")) == 1
    finally:
        await second.stop()
        await sim.stop()


async def test_saved_reservations_of_finished_orders_do_not_survive_a_restart(tmp_path):
    sim = SimServer(SimConfig(price_model="static"))
    await sim.start()
    settings = settings_for(tmp_path, accounts={"main": {"venue": "sim", "url": sim.url}})
    first = Daemon(settings)
    await first.start()
    state = first.gate.export_state()
    # Saved (as a breaker event saves it) while an order was still reserved; the order finished later.
    state["reservations"] = {"finished-order": Reservation(
        "main", "BTC/USDT", Side.BUY, False, Decimal("1"), Decimal("67000"), "USDT").dump()}
    first.store.put_json("policy_state", state)
    await first.stop()
    second = Daemon(settings)
    await second.start()
    try:
        assert "finished-order" not in second.gate.reservations()
    finally:
        await second.stop()
        await sim.stop()


async def test_metrics_on_a_separate_port(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    daemon = Daemon(settings_for(tmp_path, api={"listen": "127.0.0.1:0", "metrics_listen": f"127.0.0.1:{port}"}))
    await daemon.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                assert response.status == 200
                assert "tradewire_signals_total" in await response.text()
            async with http.get(f"http://127.0.0.1:{port}/v1/orders") as response:
                assert response.status == 404      # that port serves metrics only
    finally:
        await daemon.stop()


class Recorder:
    fills: list = []

    def on_signal(self, signal, ctx):
        from strategies.follow import Follow
        return Follow({"notional": "100"}).on_signal(signal, ctx)

    def on_fill(self, fill, ctx):
        Recorder.fills.append((fill.symbol, fill.quantity, ctx.name))


async def test_strategy_hears_the_fills_of_its_orders(tmp_path):
    Recorder.fills = []
    d = Daemon(settings_for(tmp_path, strategies=[
        {"name": "rec", "handler": "tests.test_pipeline:Recorder", "sources": ["hook"], "account": "main"}]))
    await d.start()
    try:
        assert (await d.pipeline.submit_payload(signal("f-1"), "hook")).status == "ACCEPTED"
        await settle(lambda: Recorder.fills)
        assert Recorder.fills[0][0] == "BTC/USDT" and Recorder.fills[0][2] == "rec"
    finally:
        await d.stop()
