import asyncio
import io

import pytest

from bot.obs.logging import configure_logging, get_logger
from bot.obs.metrics import Metrics
from bot.obs.scheduler import Jobs


def _value(m: Metrics, name: str, **labels) -> float:
    return m.registry.get_sample_value(name, labels) or 0.0


async def test_runs_jobs_and_contains_failures():
    out = io.StringIO()
    configure_logging("DEBUG", stream=out)
    m = Metrics(process=False)
    jobs = Jobs(m, get_logger("bot.obs.scheduler"))
    ran = []

    async def reconcile():
        ran.append("ok")

    async def broken():
        raise RuntimeError("venue down")

    jobs.add_interval("reconcile", reconcile, seconds=0.05)
    jobs.add_interval("retention", broken, seconds=0.05, jitter=0.01)
    jobs.add_daily("daily_loss_reset", reconcile, hour=0, minute=0, tz="Europe/Berlin")
    jobs.start()
    await asyncio.sleep(0.35)
    await jobs.shutdown()

    assert len(ran) >= 3  # the failing job never stopped the scheduler or the other job
    assert _value(m, "tradewire_job_runs_total", job="reconcile", outcome="success") == len(ran)
    assert _value(m, "tradewire_job_runs_total", job="retention", outcome="error") >= 3
    assert _value(m, "tradewire_job_duration_seconds_count", job="retention") >= 3
    assert _value(m, "tradewire_job_runs_total", job="daily_loss_reset", outcome="success") == 0
    log = out.getvalue()
    assert '"event": "job.failed"' in log and "venue down" in log and '"job": "retention"' in log


async def test_overlapping_run_is_skipped_and_shutdown_cancels_stragglers():
    m = Metrics(process=False)
    jobs = Jobs(m, get_logger("t"))
    release = asyncio.Event()

    async def slow():
        await release.wait()

    jobs.add_interval("slow", slow, seconds=0.03)
    jobs.start()
    await asyncio.sleep(0.2)
    await jobs.shutdown(timeout=0.05)
    assert _value(m, "tradewire_job_runs_total", job="slow", outcome="skipped") >= 1
    assert _value(m, "tradewire_job_runs_total", job="slow", outcome="cancelled") == 1


def test_duplicate_names_refused():
    jobs = Jobs(Metrics(process=False), get_logger("t"))

    async def noop():
        pass

    jobs.add_interval("reconcile", noop, seconds=5)
    with pytest.raises(ValueError):
        jobs.add_daily("reconcile", noop, hour=1, minute=0)
