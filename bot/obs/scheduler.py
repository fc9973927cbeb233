"""Periodic maintenance jobs (reconciliation, daily loss reset, stale-order expiry, breaker cool-downs, webhook
retries, data retention) on APScheduler's AsyncIOScheduler, each run metered, logged and contained.

A job that raises is logged and counted as `error`; the scheduler and the other jobs go on. One instance of a
job runs at a time: a run still going when the next is due is skipped (and counted), never stacked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.obs.metrics import Metrics

__all__ = ["Jobs"]

JobFn = Callable[[], Awaitable[Any]]


class Jobs:
    """Named async jobs on one AsyncIOScheduler; names are metric labels, so they come from code, not input."""

    def __init__(self, metrics: Metrics, logger: Any) -> None:
        self._metrics = metrics
        self._log = logger
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._scheduler.add_listener(self._on_skipped, EVENT_JOB_MAX_INSTANCES)
        self._running: set[asyncio.Task[Any]] = set()

    def add_interval(self, name: str, coro_fn: JobFn, seconds: float, jitter: float | None = None) -> None:
        """Run `coro_fn()` every `seconds` (± up to `jitter` seconds, to spread load across instances)."""
        self._add(name, coro_fn, IntervalTrigger(seconds=seconds, jitter=jitter, timezone="UTC"))

    def add_daily(self, name: str, coro_fn: JobFn, hour: int, minute: int, tz: str = "UTC") -> None:
        """Run `coro_fn()` every day at `hour:minute` in time zone `tz` (e.g. the daily loss reset)."""
        self._add(name, coro_fn, CronTrigger(hour=hour, minute=minute, timezone=tz))

    def _add(self, name: str, coro_fn: JobFn, trigger: BaseTrigger) -> None:
        if self._scheduler.get_job(name) is not None:
            raise ValueError(f"job {name!r} already exists")
        self._scheduler.add_job(
            self._run,
            trigger,
            args=(name, coro_fn),
            id=name,
            name=name,
            max_instances=1,
            # After a stall (suspend, blocked loop) run once, however late, not once per missed slot.
            coalesce=True,
            misfire_grace_time=None,
        )
        for outcome in ("success", "error"):
            self._metrics.job_runs.labels(job=name, outcome=outcome)

    async def _run(self, name: str, coro_fn: JobFn) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        started = time.perf_counter()
        outcome = "error"
        try:
            await coro_fn()
            outcome = "success"
        except asyncio.CancelledError:
            # Only shutdown cancels a run, and this task (the executor's) ends here anyway; re-raising would make
            # APScheduler log the cancellation as a crash with a traceback.
            outcome = "cancelled"
        except Exception:
            self._log.exception("job.failed", job=name)
        finally:
            self._running.discard(task)
            elapsed = time.perf_counter() - started
            self._metrics.job_runs.labels(job=name, outcome=outcome).inc()
            self._metrics.job_duration.labels(job=name).observe(elapsed)
            if outcome != "error":
                self._log.debug("job.finished", job=name, outcome=outcome, duration=round(elapsed, 6))

    def _on_skipped(self, event: JobEvent) -> None:
        self._metrics.job_runs.labels(job=event.job_id, outcome="skipped").inc()
        self._log.warning("job.skipped", job=event.job_id, reason="previous run still going")

    def start(self) -> None:
        """Start running jobs; call from inside the running event loop."""
        self._scheduler.start()

    async def shutdown(self, timeout: float = 5.0) -> None:
        """Stop scheduling, give running jobs `timeout` seconds to finish, then cancel what is left."""
        if not self._scheduler.running:
            return
        self._scheduler.pause()
        if self._running:
            await asyncio.wait(set(self._running), timeout=timeout)
        # AsyncIOScheduler cancels the job tasks still pending.
        self._scheduler.shutdown(wait=False)
        if self._running:
            await asyncio.wait(set(self._running), timeout=1.0)
