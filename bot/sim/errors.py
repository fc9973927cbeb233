"""Binance-style errors: a code, Binance's exact message, and the HTTP status it travels with."""
from __future__ import annotations

INSUFFICIENT = "Account has insufficient balance for requested action."
DUPLICATE = "Duplicate order sent."
UNKNOWN_ORDER = "Unknown order sent."
NO_SUCH_ORDER = "Order does not exist."
WOULD_TAKE = "Order would immediately match and take."
WOULD_TRIGGER = "Order would trigger immediately."
OCO_BAD_PRICES = "The relationship of the prices for the orders is not correct."
UNSUPPORTED_COMBO = "Unsupported order combination"


class BinanceError(Exception):
    def __init__(self, code: int, msg: str, status: int = 400, headers: dict[str, str] | None = None):
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.status = status
        self.headers = headers or {}

    def body(self) -> dict:
        return {"code": self.code, "msg": self.msg}


def rejected(msg: str) -> BinanceError:
    return BinanceError(-2010, msg)


def filter_failure(name: str) -> BinanceError:
    return BinanceError(-1013, f"Filter failure: {name}")


def mandatory(name: str) -> BinanceError:
    return BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def bad_param(name: str) -> BinanceError:
    return BinanceError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '^[\\.A-Z\\:/a-z0-9_-]{{1,36}}$'.")


def invalid_symbol() -> BinanceError:
    return BinanceError(-1121, "Invalid symbol.")
