"""The policy file's shape (SPEC §5) as strict pydantic models; the JSON Schema is generated from these.

Every model forbids unknown keys, so a typo in a risk limit is an error instead of a silently ignored line.
Money is ``Decimal`` (write it quoted: ``"1000"``); durations are ``"30s"``, ``"1m"``, ``"2h"``, ``"1d"``
or a number of seconds.
"""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, create_model, field_validator

from bot.model import OrderType

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")


def parse_duration(value: Any) -> float:
    """``"30s"`` → 30.0; bare numbers are seconds. Booleans are refused (YAML turns ``yes`` into True)."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like 30s, 1m, 2h")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration (use e.g. 30s, 1m, 2h, 1d)")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration), WithJsonSchema({
    "anyOf": [{"type": "number", "exclusiveMinimum": 0},
              {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)\s*$"}],
    "description": "seconds, or a string like 30s, 1m, 2h, 1d"})]
Money = Annotated[Decimal, Field(ge=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def partial(model: type[_Model]) -> type[_Model]:
    """The same fields, all optional and absent by default: the shape of a per-symbol or per-source override."""
    def optional(info: Any) -> Any:
        # Carry the field's metadata (ge=, validators) over, so an override is checked like the default.
        kind = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        return Optional[kind]
    fields = {name: (optional(info), Field(None, alias=info.alias, description=info.description))
              for name, info in model.model_fields.items()}
    return create_model(f"{model.__name__}Override", __base__=_Model, **fields)


# ---------------------------------------------------------------------------------------------------------
# Limits that apply per order, position and signal; `defaults` holds them, overrides may replace single keys.

class OrderLimits(_Model):
    max_notional: Money = Field(Decimal("1000"), description="largest order, in quote currency")
    min_notional: Money = Field(Decimal("10"), description="smallest order, in quote currency")
    max_slippage_bps: float = Field(50, ge=0, le=10_000,
                                    description="how far past the touch (ask for buys, bid for sells) a price may be")
    allowed_types: tuple[OrderType, ...] = Field((OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_LIMIT),
                                                 description="order types allowed for entries")
    resize: bool = Field(False, description="shrink an order above max_notional to max_notional instead of "
                                            "rejecting it")


class PositionLimits(_Model):
    max_notional: Money = Field(Decimal("5000"), description="largest position per symbol, in quote currency, "
                                                            "counting resting entry orders as filled")
    max_open_orders: int = Field(4, ge=0, description="open entry orders per symbol")


class SignalLimits(_Model):
    max_age: Duration = Field(30.0, description="older signals are SIGNAL_STALE (a signal's own ttl may be shorter)")
    min_confidence: Fraction = Field(0.5, description="below this (or missing, when above 0) → LOW_CONFIDENCE")


class Protection(_Model):
    require_stop_loss: bool = Field(True, description="entries without a stop loss are STOP_LOSS_REQUIRED")
    on_leg_failure: Literal["flatten", "alert"] = "flatten"
    leg_retries: int = Field(3, ge=0)


class MarketData(_Model):
    max_quote_age: Duration = Field(10.0, description="an older quote counts as no market data")


class Defaults(_Model):
    order: OrderLimits = OrderLimits()
    position: PositionLimits = PositionLimits()
    signal: SignalLimits = SignalLimits()
    protection: Protection = Protection()
    market: MarketData = MarketData()


OrderOverride = partial(OrderLimits)
PositionOverride = partial(PositionLimits)
SignalOverride = partial(SignalLimits)
ProtectionOverride = partial(Protection)


class SymbolOverride(_Model):
    order: OrderOverride | None = None          # type: ignore[valid-type]
    position: PositionOverride | None = None    # type: ignore[valid-type]
    protection: ProtectionOverride | None = None  # type: ignore[valid-type]


class Symbols(_Model):
    allow: tuple[str, ...] = Field(description="glob patterns (fnmatch) of tradeable symbols, e.g. */USDT")
    deny: tuple[str, ...] = Field((), description="glob patterns that are never traded; deny beats allow")
    overrides: dict[str, SymbolOverride] = Field(
        default_factory=dict, description="per symbol or glob pattern; later patterns win, an exact symbol last")


# ---------------------------------------------------------------------------------------------------------
# Accounts, sources, venues, strategies: keyed by name; the key `default` applies to names not listed.

class AccountLimits(_Model):
    max_gross_exposure: Money | None = Field(None, description="sum of |position| over all symbols plus resting "
                                                              "entry orders, in quote currency")
    daily_loss_limit: Money | None = Field(None, description="realized loss since 00:00 UTC that trips on_limit")
    max_drawdown_pct: float | None = Field(None, gt=0, le=100,
                                           description="equity below its high-water mark by this much trips on_limit")
    on_limit: Literal["halt", "reduce_only"] = "reduce_only"


class RateLimit(_Model):
    max: int = Field(ge=1, description="signals that may trade per `per`")
    per: Duration


class SourceBreaker(_Model):
    window: int = Field(20, ge=1, description="closed trades the win rate is measured over")
    min_win_rate: Fraction = 0.35
    max_consecutive_losses: int = Field(5, ge=1)
    cooldown: Duration = 7200.0


class SourcePolicy(_Model):
    rate: RateLimit | None = None
    breaker: SourceBreaker | None = None
    signal: SignalOverride | None = None         # type: ignore[valid-type]


class VenueBreaker(_Model):
    consecutive_failures: int = Field(5, ge=1)
    failure_rate: Fraction = Field(0.5, description="share of failed calls within `window` that trips")
    window: Duration = 60.0
    min_calls: int = Field(10, ge=1, description="calls within `window` before failure_rate is judged")
    cooldown: Duration = 30.0


class VenuePolicy(_Model):
    breaker: VenueBreaker = VenueBreaker()


class StrategyBreaker(_Model):
    consecutive_failures: int = Field(3, ge=1, description="errors or timeouts in a row that trip")
    cooldown: Duration = 300.0


class StrategyPolicy(_Model):
    breaker: StrategyBreaker = StrategyBreaker()


# ---------------------------------------------------------------------------------------------------------
# Trading windows.

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


def parse_days(spec: str) -> frozenset[int]:
    """``mon-fri`` / ``sat,sun`` / ``mon-sun`` → weekday numbers (Monday = 0); ranges may wrap (``fri-mon``)."""
    days: set[int] = set()
    for part in spec.lower().replace(" ", "").split(","):
        first, _, last = part.partition("-")
        if first not in DAY_NAMES or (last and last not in DAY_NAMES):
            raise ValueError(f"{spec!r}: days are mon..sun, as a range (mon-fri) or a list (sat,sun)")
        start, end = DAY_NAMES.index(first), DAY_NAMES.index(last or first)
        days.update((start + i) % 7 for i in range((end - start) % 7 + 1))
    return frozenset(days)


class Window(_Model):
    days: str = "mon-sun"
    start: str = Field("00:00", alias="from", description="HH:MM, inclusive")
    end: str = Field("24:00", alias="to", description="HH:MM, exclusive; 24:00 = end of day")
    tz: str = "UTC"

    @field_validator("days")
    @classmethod
    def _days(cls, value: str) -> str:
        parse_days(value)
        return value

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK.match(value):
            raise ValueError(f"{value!r} is not a time of day HH:MM (00:00..24:00)")
        return value

    @field_validator("tz")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    def minutes(self) -> tuple[int, int]:
        def of(text: str) -> int:
            hours, minutes = text.split(":")
            return int(hours) * 60 + int(minutes)
        return of(self.start), of(self.end)


class Schedule(_Model):
    windows: tuple[Window, ...] = Field(min_length=1)


# ---------------------------------------------------------------------------------------------------------

class Policy(_Model):
    """The whole policy file. `schedule` absent = trading is allowed at any time."""

    version: Literal[1]
    mode: Literal["enforce", "observe"] = Field("enforce", description="observe: decisions are logged, "
                                                                      "rejects are not applied")
    defaults: Defaults = Defaults()
    symbols: Symbols
    accounts: dict[str, AccountLimits] = Field(default_factory=dict)
    sources: dict[str, SourcePolicy] = Field(default_factory=dict)
    venues: dict[str, VenuePolicy] = Field(default_factory=lambda: {"default": VenuePolicy()})
    strategies: dict[str, StrategyPolicy] = Field(default_factory=lambda: {"default": StrategyPolicy()})
    schedule: Schedule | None = None

    def account(self, name: str) -> tuple[str, AccountLimits | None]:
        return _named(self.accounts, name, "accounts")

    def source(self, name: str) -> tuple[str, SourcePolicy | None]:
        return _named(self.sources, name, "sources")

    def venue(self, name: str) -> tuple[str, VenuePolicy | None]:
        return _named(self.venues, name, "venues")

    def strategy(self, name: str) -> tuple[str, StrategyPolicy | None]:
        return _named(self.strategies, name, "strategies")


def _named(table: dict[str, Any], name: str, section: str) -> tuple[str, Any]:
    """The entry for ``name`` or else ``default``, with the rule path it came from."""
    if name in table:
        return f"{section}.{name}", table[name]
    return f"{section}.default", table.get("default")


def json_schema() -> dict[str, Any]:
    schema = Policy.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Tradewire risk policy"
    return schema
