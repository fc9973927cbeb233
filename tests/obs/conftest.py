import logging

import pytest
import structlog


@pytest.fixture(autouse=True)
def _restore_logging():
    """configure_logging changes process-wide state; put it back so other tests see the defaults."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("apscheduler").setLevel(logging.NOTSET)
