"""Observability: how an operator sees and supervises a running daemon.

`logging` configures structlog (JSON lines off a TTY, readable on one, context variables such as signal id,
client order id and correlation id on every line, registered secrets redacted) and routes the standard
library's loggers (aiohttp, apscheduler, ccxt) through the same renderer. `metrics` owns a Prometheus registry
with every metric SPEC §10 names. `sdnotify` speaks the systemd notify protocol (READY, RELOADING, STOPPING,
STATUS, the watchdog) without third-party packages. `scheduler` runs periodic and daily maintenance jobs on
APScheduler, metering and containing each run. Nothing here knows about orders or policy: the daemon feeds in.
"""
