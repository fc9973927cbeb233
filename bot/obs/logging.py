"""Structured logging: one line per event, JSON off a TTY, console rendering on one, secrets redacted.

Both structlog loggers (`get_logger`) and the standard library's loggers (aiohttp, apscheduler, ccxt) end in
the same processor chain, so the journal holds a single format and redaction cannot be bypassed by a
library that logs through `logging`.
"""

from __future__ import annotations

import json as _json
import logging
import re
import sys
from collections.abc import Iterable
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = ["configure_logging", "get_logger", "redact", "register_secret", "register_secrets"]

REDACTED = "***"
# Shorter values would redact ordinary words and numbers all over the logs while protecting nothing.
_MIN_SECRET_LEN = 4

_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def register_secret(value: str) -> None:
    """Never render `value` (an API key, exchange secret, webhook secret) in any log line from now on."""
    global _pattern
    if not isinstance(value, str) or len(value) < _MIN_SECRET_LEN or value in _secrets:
        return
    _secrets.add(value)
    # A secret may also reach the output JSON-escaped (quotes, backslashes, non-ASCII), so match those spellings.
    forms = {f for s in _secrets for f in (s, _json.dumps(s)[1:-1], _json.dumps(s, ensure_ascii=False)[1:-1])}
    # Longest first, so a secret that contains another is replaced whole.
    _pattern = re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)))


def redact(text: str) -> str:
    """`text` with every registered secret replaced by "***" (also usable for error messages and the database)."""
    return text if _pattern is None else _pattern.sub(REDACTED, text)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {_redact_value(k): _redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return type(value)(_redact_value(v) for v in value)
    # Other objects are rendered later (repr / str); the final pass over the rendered line covers them.
    return value


def _redact_event(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    if _pattern is None:
        return event_dict
    return {k: _redact_value(v) for k, v in event_dict.items()}


def _redacting(renderer: Processor) -> Processor:
    """Wrap the renderer so that the line actually written is scrubbed, whatever objects went into it."""

    def render(logger: WrappedLogger, name: str, event_dict: EventDict) -> str:
        return redact(renderer(logger, name, event_dict))

    return render


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _tail(json: bool, colors: bool) -> list[Processor]:
    # Exceptions become text before redaction (also on the console, at the cost of rich tracebacks): a secret
    # in an exception message must be scrubbed like any other value.
    renderer: Processor = (
        structlog.processors.JSONRenderer(default=str)
        if json
        else structlog.dev.ConsoleRenderer(colors=colors)
    )
    return [
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        _redact_event,
        _redacting(renderer),
    ]


class _NamedWriteLogger(structlog.WriteLogger):
    """A WriteLogger that knows the name given to `get_logger`, for `add_logger_name`."""

    def __init__(self, file: TextIO, name: str):
        super().__init__(file)
        self.name = name


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the root handler this module installed, so reconfiguring replaces it instead of adding another."""


def configure_logging(
    level: str | int = "INFO", json: bool | None = None, *, stream: TextIO | None = None
) -> None:
    """Set up structlog and the standard library's logging; safe to call again (tests, config reload).

    `json=None` picks JSON lines unless `stream` (default stderr) is a terminal. `stream` exists for tests.
    """
    out = stream if stream is not None else sys.stderr
    tty = hasattr(out, "isatty") and out.isatty()
    if json is None:
        json = not tty
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")

    structlog.configure(
        processors=[*_shared_processors(), *_tail(json, tty)],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=lambda name="", *_: _NamedWriteLogger(out, name),
        # Not cached: loggers fetched at import time must follow a later reconfiguration.
        cache_logger_on_first_use=False,
    )

    handler = _Handler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_shared_processors(),
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *_tail(json, tty)],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    # APScheduler logs every run at INFO; bot.obs.scheduler already reports runs with outcome and duration.
    logging.getLogger("apscheduler").setLevel(max(numeric, logging.WARNING))


def get_logger(name: str, **initial: Any) -> Any:
    """A structlog logger whose lines carry `logger=name` (and `initial` values)."""
    # Lazy proxy: the processors and level are looked up on first use, so a reconfiguration applies.
    return structlog.get_logger(name, **initial)


def register_secrets(values: Iterable[str]) -> None:
    """`register_secret` for each value (the daemon passes every secret its settings resolved)."""
    for value in values:
        register_secret(value)
