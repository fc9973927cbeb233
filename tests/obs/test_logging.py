import io
import json
import logging
import secrets

import structlog

from bot.obs.logging import configure_logging, get_logger, redact, register_secret


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_context_of_the_order():
    out = io.StringIO()
    configure_logging("INFO", stream=out)  # a StringIO is not a TTY: JSON
    log = get_logger("bot.execution")
    structlog.contextvars.bind_contextvars(signal_id="voc-1", client_order_id="tw-abc", correlation_id="c-9")
    log.info("order.submitted", symbol="BTC/USDT")
    logging.getLogger("aiohttp.access").info("POST /v1/orders %s", 201)
    log.debug("not shown")

    first, second = _lines(out)
    assert first["event"] == "order.submitted" and first["logger"] == "bot.execution"
    assert first["level"] == "info" and "timestamp" in first
    for line in (first, second):
        assert (line["signal_id"], line["client_order_id"], line["correlation_id"]) == ("voc-1", "tw-abc", "c-9")
    assert second == second | {"event": "POST /v1/orders 201", "logger": "aiohttp.access"}


def test_registered_secret_never_rendered():
    secret = "k3y-" + secrets.token_hex(8)
    quoted = 'sec"ret\\' + secrets.token_hex(4)  # needs JSON escaping
    register_secret(secret)
    register_secret(quoted)
    register_secret("abc")  # too short to redact safely: ignored
    out = io.StringIO()
    configure_logging("DEBUG", stream=out)
    log = get_logger("t")

    class Opaque:
        def __repr__(self) -> str:
            return f"Opaque({secret})"

    log.info("config", api_key=secret, nested={"venue": {"creds": [f"x{secret}y", (quoted,)]}, secret: 1}, o=Opaque())
    try:
        raise RuntimeError(f"binance said: invalid key {secret}")
    except RuntimeError:
        log.exception("venue.failed")
        logging.getLogger("ccxt.base").exception("stdlib %s", quoted)
    logging.getLogger("apscheduler").warning("job args %r", {"secret": secret})

    text = out.getvalue()
    assert secret not in text and quoted not in text and json.dumps(quoted)[1:-1] not in text
    lines = _lines(out)
    assert len(lines) == 4
    assert lines[0]["api_key"] == "***"
    assert lines[0]["nested"] == {"venue": {"creds": ["x***y", ["***"]]}, "***": 1}
    assert "invalid key ***" in lines[1]["exception"] and "Traceback" in lines[1]["exception"]
    assert lines[2]["event"] == "stdlib ***"
    assert "abc" in redact("abc")


def test_console_rendering_is_readable_and_redacted():
    secret = "console-" + secrets.token_hex(6)
    register_secret(secret)
    out = io.StringIO()
    configure_logging("INFO", json=False, stream=out)
    get_logger("t").info("signal.accepted", source="demo", key=secret)
    line = out.getvalue()
    assert "signal.accepted" in line and "source=demo" in line and secret not in line
    assert not line.lstrip().startswith("{")


def test_reconfigure_applies_to_existing_loggers():
    log = get_logger("early")  # fetched at import time in real modules
    first, second = io.StringIO(), io.StringIO()
    configure_logging("INFO", stream=first)
    configure_logging("WARNING", stream=second)
    log.info("dropped")
    log.warning("kept")
    logging.getLogger("x").warning("kept too")
    assert first.getvalue() == ""
    assert [line["event"] for line in _lines(second)] == ["kept", "kept too"]
