"""Daemon configuration (SPEC §3): ``config/tradewire.yaml`` plus ``TRADEWIRE_<SECTION>__<KEY>`` overrides.

Unknown keys are errors. Secrets never live in the file: a secret is a reference to an environment
variable, a file, or a systemd credential (``$CREDENTIALS_DIRECTORY/<name>``), resolved at start-up.
"""
from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class ConfigError(Exception):
    """The configuration cannot be used; the message says what to fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SecretRef(_Strict):
    """Where a secret comes from: exactly one of ``env``, ``file``, ``credential``."""

    env: str | None = None
    file: Path | None = None
    credential: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "SecretRef":
        if sum(x is not None for x in (self.env, self.file, self.credential)) != 1:
            raise ValueError("a secret reference needs exactly one of env, file, credential")
        return self

    def describe(self) -> str:
        if self.env:
            return f"environment variable {self.env}"
        if self.file:
            return f"file {self.file}"
        return f"systemd credential {self.credential}"

    def resolve(self) -> str:
        if self.env:
            value = os.environ.get(self.env)
        else:
            if self.file is not None:
                path = self.file
            else:
                directory = os.environ.get("CREDENTIALS_DIRECTORY")
                if not directory:
                    raise ConfigError(f"{self.describe()}: $CREDENTIALS_DIRECTORY is not set (LoadCredential=)")
                path = Path(directory) / str(self.credential)
            try:
                value = path.read_text().strip()
            except OSError as exc:
                raise ConfigError(f"{self.describe()}: cannot read: {exc.strerror}") from exc
        if not value:
            raise ConfigError(f"{self.describe()} is empty or unset")
        return value


class ApiSettings(_Strict):
    listen: str = "127.0.0.1:8080"
    ack_timeout: float = Field(default=2.0, gt=0, description="seconds POST /v1/orders waits for the venue")
    demo_key: bool = Field(default=False, description="create and print a demo API key at start-up")
    metrics_listen: str | None = Field(default=None, description="also serve /metrics alone on this address")

    @property
    def host_port(self) -> tuple[str, int]:
        return host_port_of(self.listen)


def host_port_of(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "127.0.0.1", int(port)


class AccountSettings(_Strict):
    venue: str = "sim"
    url: str | None = None
    api_key: SecretRef | None = None
    secret: SecretRef | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    symbols: list[str] = Field(default_factory=lambda: ["BTC/USDT", "ETH/USDT"],
                               description="markets whose prices are streamed and whose orders are reconciled")


class SourceSettings(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    kind: Literal["websocket", "webhook"]
    url: str | None = None
    format: Literal["native", "tradingview", "mapping"] = "native"
    token: SecretRef | None = None
    secret: SecretRef | None = None
    allow_ips: list[str] = Field(default_factory=list)
    mapping: dict[str, str] = Field(default_factory=dict)
    heartbeat_interval: float = Field(default=5.0, gt=0)


class StrategySettings(_Strict):
    name: str
    handler: str
    sources: list[str]
    account: str
    params: dict[str, Any] = Field(default_factory=dict)
    timeout: float = Field(default=1.0, gt=0)


class SimSettings(_Strict):
    """The in-process simulator started for accounts with ``venue: sim`` and ``url: null``."""

    seed: int = 1
    port: int = 0
    price_model: str = "walk"
    symbols: list[str] = Field(default_factory=lambda: ["BTC/USDT", "ETH/USDT"])
    balances: dict[str, Decimal] = Field(
        default_factory=lambda: {"USDT": Decimal("100000"), "BTC": Decimal("1"), "ETH": Decimal("10")})


class FeedSettings(_Strict):
    """The in-process demo feed served for sources with ``url: embedded``."""

    rate: float = Field(default=0.5, gt=0, description="signals per second")
    seed: int = 1
    port: int = 0
    symbols: list[str] = Field(default_factory=lambda: ["BTC/USDT", "ETH/USDT"])


class ExecutionSettings(_Strict):
    cancel_on_shutdown: bool = Field(default=False, description="cancel resting orders on SIGTERM")
    reconcile_interval: float = Field(default=30.0, gt=0)
    unknown_grace: float = Field(default=1.0, ge=0, description="seconds before looking up an unknown submit")
    lost_after: int = Field(default=3, ge=1, description="definite not-found lookups before an order is lost")
    orders_per_10s: int = Field(default=90, gt=0, description="order-count budget below the venue's limit")
    max_order_age: float = Field(default=0, ge=0, description="cancel entry orders resting longer (s); 0 = never")
    protection: Literal["auto", "oco", "separate"] = Field(
        default="auto", description="auto = best the venue offers; separate = emulated one-cancels-other legs")


class StoreSettings(_Strict):
    synchronous: Literal["normal", "full"] = "normal"
    retention_days: float = Field(default=30, gt=0, description="keep rejected and invalid signals this long")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRADEWIRE_", env_nested_delimiter="__", extra="forbid")

    state_dir: Path = Path("./var")
    log_level: str = "INFO"
    api: ApiSettings = ApiSettings()
    accounts: dict[str, AccountSettings] = Field(default_factory=lambda: {"main": AccountSettings()})
    sources: list[SourceSettings] = Field(default_factory=list)
    strategies: list[StrategySettings] = Field(default_factory=list)
    policy: Path = Path("config/policy.yaml")
    sim: SimSettings = SimSettings()
    feed: FeedSettings = FeedSettings()
    execution: ExecutionSettings = ExecutionSettings()
    store: StoreSettings = StoreSettings()

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment overrides the file (passed as init values); no .env or secrets-dir magic.
        return env_settings, init_settings

    @model_validator(mode="after")
    def _references(self) -> "Settings":
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError("sources: names must be unique")
        for strategy in self.strategies:
            if strategy.account not in self.accounts:
                raise ValueError(f"strategies.{strategy.name}.account: unknown account {strategy.account!r}")
            for source in strategy.sources:
                if source not in names:
                    raise ValueError(f"strategies.{strategy.name}.sources: unknown source {source!r}")
        return self

    def source(self, name: str) -> SourceSettings | None:
        return next((s for s in self.sources if s.name == name), None)


def _format_errors(path: Path, exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        lines.append(f"{path}: {where}: {message}")
    return "\n".join(lines)


def load_settings(path: str | Path) -> Settings:
    """Reads the YAML file and applies environment overrides; raises ConfigError naming the bad key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    try:
        return Settings(**raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, exc)) from None
