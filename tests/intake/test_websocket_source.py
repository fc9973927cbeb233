"""The websocket source against the demo feed: subscribe, resume from seq, bad frames, dead connections."""
from __future__ import annotations

import asyncio
import json

from bot.intake.websocket import WebSocketSource
from bot.sim.feed import FeedConfig, FeedServer


async def _until(condition, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_resumes_from_last_seq_after_reconnect_and_survives_bad_frames():
    feed = FeedServer(FeedConfig(rate=50, token="tok", heartbeat_interval=0.2))
    await feed.start()
    seen: list[int] = []
    bad: list[str] = []

    async def on_signal(payload, seq):
        seen.append(seq)

    async def on_bad(text, reason):
        bad.append(reason)

    source = WebSocketSource("demo", feed.url, on_signal=on_signal, on_bad_frame=on_bad, token="tok",
                             heartbeat_interval=0.2, backoff=(0.01, 0.05))
    task = asyncio.create_task(source.run())
    try:
        await _until(lambda: len(seen) >= 5)
        feed.publish("this is not json")
        for ws in list(feed.clients):        # the provider drops us; frames keep coming meanwhile
            await ws.close()
        await asyncio.sleep(0.2)
        await _until(lambda: len(seen) >= 20)
        assert source.connects >= 2
        assert seen == sorted(seen) and len(seen) == len(set(seen)), "replayed frames were processed twice"
        missing = set(range(1, max(seen) + 1)) - set(seen)
        assert missing <= {s for s, text in feed.frames if not text.startswith("{")}   # only the bad frame
        assert bad == ["frame is not JSON"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await feed.stop()


async def test_wrong_token_is_refused_and_retried():
    feed = FeedServer(FeedConfig(rate=50, token="right"))
    await feed.start()
    seen: list[int] = []

    async def on_signal(payload, seq):
        seen.append(seq)

    async def on_bad(text, reason):
        pass

    source = WebSocketSource("demo", feed.url, on_signal=on_signal, on_bad_frame=on_bad, token="wrong",
                             backoff=(0.01, 0.05))
    task = asyncio.create_task(source.run())
    try:
        await asyncio.sleep(0.5)
        assert seen == [] and source.connects >= 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await feed.stop()


async def test_missing_heartbeats_mean_a_dead_connection():
    # A server that accepts the subscription and then says nothing at all.
    from websockets.asyncio.server import serve

    connections = 0

    async def silent(ws):
        nonlocal connections
        connections += 1
        json.loads(await ws.recv())
        await ws.wait_closed()          # silent until the client gives up

    async with serve(silent, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]

        async def noop(*args):
            pass

        source = WebSocketSource("demo", f"ws://127.0.0.1:{port}", on_signal=noop, on_bad_frame=noop,
                                 heartbeat_interval=0.1, backoff=(0.01, 0.02))
        task = asyncio.create_task(source.run())
        try:
            await _until(lambda: connections >= 2, timeout=5)   # 3 × 0.1 s of silence → reconnect
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
