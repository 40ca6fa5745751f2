"""Service configuration (``margincall serve``): a TOML file, then ``MARGINCALL_*`` environment variables.

Precedence (highest first): explicit arguments (CLI options), environment variables, the TOML file, defaults.
The TOML file is ``--config PATH`` or ``$MARGINCALL_CONFIG``; its keys are the field names below, the engine's in
an ``[engine]`` table. Nested environment variables use ``__``: ``MARGINCALL_ENGINE__MAX_STEPS_PER_TICK=500``.

```toml
database = "/var/lib/margincall/engine.db"   # or "postgresql://user@host/db"
host = "127.0.0.1"
port = 8000
rate_limit_per_second = 5000                  # items (fills, marks) per second per API key; 0 = no limit
[engine]
max_steps_per_tick = 10000
last_resort = "venue"                         # or "socialize"
[read_limits]                                 # reads: tokens per second and burst per role (see ReadLimits)
viewer_per_second = 20
viewer_burst = 40
[calculator]
max_positions = 200
```
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from margincall.risk.engine import EngineConfig
from margincall.risk.executor import MarketExecutor
from margincall.risk.margin_call import BandConfig

_toml_path: ContextVar[Path | None] = ContextVar("margincall_toml_path", default=None)


class EngineSettings(BaseModel):
    """The risk engine's knobs (:class:`margincall.risk.engine.EngineConfig`)."""

    max_steps_per_tick: int = Field(10_000, ge=1)
    last_resort: Literal["venue", "socialize"] = "venue"
    enforce_reduce_only: bool = True
    warning: Decimal = Decimal("0.80")
    reduce_only: Decimal = Decimal("0.90")
    hysteresis: Decimal = Decimal("0.05")
    slippage: Decimal = Decimal("0.001")
    impact_per_million: Decimal = Decimal("0.0005")

    def to_config(self) -> EngineConfig:
        return EngineConfig(
            bands=BandConfig(warning=self.warning, reduce_only=self.reduce_only, hysteresis=self.hysteresis),
            executor=MarketExecutor(slippage=self.slippage, impact_per_million=self.impact_per_million),
            max_steps_per_tick=self.max_steps_per_tick,
            last_resort=self.last_resort,
            enforce_reduce_only=self.enforce_reduce_only,
        )


class ReadLimits(BaseModel):
    """Rate limits of the read endpoints (every GET, and ``POST /v1/calculator``): a token bucket per API key,
    its rate set by the key's role (``<role>_per_second`` tokens back each second, 0 = no limit, at most
    ``<role>_burst`` held), apart from the ingestion buckets. A read costs ``status_cost`` tokens, an events
    page ``events_cost``, a calculator call ``calculator_cost``, a liquidation map ``map_cost``; a read the
    bucket cannot pay is refused with 429 and ``Retry-After``."""

    admin_per_second: float = Field(500, ge=0)
    admin_burst: int = Field(1000, ge=1)
    feeder_per_second: float = Field(100, ge=0)
    feeder_burst: int = Field(200, ge=1)
    trader_per_second: float = Field(50, ge=0)
    trader_burst: int = Field(100, ge=1)
    viewer_per_second: float = Field(20, ge=0)
    viewer_burst: int = Field(40, ge=1)
    status_cost: int = Field(1, ge=1)
    events_cost: int = Field(5, ge=1)
    calculator_cost: int = Field(10, ge=1)
    map_cost: int = Field(10, ge=1)

    def of(self, role: str) -> tuple[float, int]:
        """``(per_second, burst)`` of ``role`` (``admin``, ``feeder``, ``trader`` or ``viewer``)."""
        return float(getattr(self, f"{role}_per_second")), int(getattr(self, f"{role}_burst"))


class CalculatorLimits(BaseModel):
    """The largest scenario ``POST /v1/calculator`` evaluates (checked before any work; 413 beyond)."""

    max_positions: int = Field(200, ge=1)
    max_instruments: int = Field(200, ge=1)
    #: Tier rows given for one instrument (``tiers``, or the rows of a venue's tier payload).
    max_tiers: int = Field(100, ge=1)


class Settings(BaseSettings):
    """Everything ``margincall serve`` needs; see the module docstring for the sources."""

    model_config = SettingsConfigDict(env_prefix="MARGINCALL_", env_nested_delimiter="__", extra="ignore")

    #: SQLite path or ``postgresql://`` URL (env ``MARGINCALL_DATABASE`` or ``MARGINCALL_DATABASE_URL``).
    database: str = Field(
        "margincall.db",
        validation_alias=AliasChoices("database", "MARGINCALL_DATABASE", "MARGINCALL_DATABASE_URL"),
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    #: The bootstrap admin key; when unset a key is generated for a database that has no admin key yet.
    admin_key: SecretStr | None = None
    #: Token bucket per API key on ingestion endpoints: sustained items per second (0 disables) and burst.
    rate_limit_per_second: float = Field(5000.0, ge=0)
    rate_limit_burst: int = Field(20_000, ge=1)
    #: Per-role token buckets on reads, weighted by what a read costs (:class:`ReadLimits`).
    read_limits: ReadLimits = Field(default_factory=ReadLimits)
    #: A ``GET /v1/events`` page filtered by account and type reads at most this many of the account's events
    #: per event asked for (``limit``); it may then hold fewer than ``limit`` while its cursor advances.
    events_scan_factor: int = Field(20, ge=1)
    #: ``GET /v1/liquidation-map`` reuses the book it read for this long even when new events came in (the answer
    #: carries the ``seq`` it was read at): reading the book holds the writer's lock (~50 µs a position), so
    #: this bounds the share of the writer's time maps can take, whatever the number of clients. 0: always fresh.
    liquidation_map_max_age_ms: int = Field(1_000, ge=0)
    calculator: CalculatorLimits = Field(default_factory=CalculatorLimits)
    #: Most items (fills, marks) in one request.
    max_batch_items: int = Field(10_000, ge=1)
    #: Largest request body in bytes: a larger one is answered 413 before it is read.
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    #: The clock-skew window for a client's ``ts`` (its source time): at most this far ahead of / behind the
    #: service's clock, else refused with ``clock_skew``. Events are stamped with ingestion time regardless.
    ts_max_ahead_ms: int = Field(5_000, ge=0)
    ts_max_behind_ms: int = Field(300_000, ge=0)
    #: Most commands the writer thread submits in one transaction (concurrent requests are merged).
    commit_max_batch: int = Field(5_000, ge=1)
    snapshot_every: int = Field(10_000, ge=0)
    #: Messages buffered per WebSocket client before it is disconnected as too slow.
    stream_buffer: int = Field(10_000, ge=1)
    #: Insurance-fund history points kept in memory per asset.
    insurance_history: int = Field(10_000, ge=1)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    #: Posted marks: the largest single move from the last accepted mark (a fraction; None: no breaker), what
    #: happens to a larger one ("clamp" to the band edge or "reject"), and how old an explicit ``ts`` may be.
    mark_max_move: Decimal | None = Field(Decimal("0.25"), gt=0)
    mark_breaker: Literal["clamp", "reject"] = "clamp"
    mark_max_age_ms: int = Field(60_000, ge=0)
    #: Source prices → index (docs/venues.md §3.6): the sources, their freshness, the outlier band, the quorum, and
    #: whether each new index is also posted as the symbol's mark.
    index_sources: list[str] = Field(default_factory=lambda: ["binance", "okx", "bybit", "coinbase", "kraken"])
    index_max_age_ms: int = Field(10_000, ge=0)
    index_outlier_band: Decimal = Field(Decimal("0.05"), gt=0)
    index_min_sources: int = Field(1, ge=1)
    mark_from_index: bool = False
    #: Forward every streamed event to NATS JetStream (e.g. ``nats://127.0.0.1:4222``); unset: in-process only.
    nats_url: str | None = None
    nats_stream: str = "MARGINCALL"
    nats_prefix: str = "margincall"
    #: Webhooks: the time one delivery may take (s), the first and the longest wait between failed attempts (s;
    #: the wait doubles per failure), how often each subscription also scans the log without being woken (s),
    #: and the most subscriptions per account.
    webhook_timeout: float = Field(10.0, gt=0)
    webhook_retry_first: float = Field(1.0, gt=0)
    webhook_retry_max: float = Field(300.0, gt=0)
    webhook_poll_interval: float = Field(5.0, gt=0)
    webhook_max_per_account: int = Field(10, ge=1)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = _toml_path.get()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @classmethod
    def load(cls, config_file: str | Path | None = None, **overrides: Any) -> Settings:
        """Settings from ``config_file`` (else ``$MARGINCALL_CONFIG``), the environment and ``overrides``
        (``None`` values are ignored, so unset CLI options do not hide the file or the environment)."""
        path = config_file if config_file is not None else os.environ.get("MARGINCALL_CONFIG")
        if path is not None and not Path(path).is_file():
            raise FileNotFoundError(f"config file {path} not found")
        token = _toml_path.set(Path(path) if path is not None else None)
        try:
            return cls(**{k: v for k, v in overrides.items() if v is not None})
        finally:
            _toml_path.reset(token)
