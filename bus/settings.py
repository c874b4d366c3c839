"""Typed settings of the bus, read from the environment (``BUS_*``) and an optional TOML file.

Nested values use ``__`` in environment names, e.g. ``BUS_NAVISION__URL``. ``BUS_CONFIG`` names a
TOML file read before the environment (environment wins). Everything is validated at start, so a
typo fails fast instead of at the first delivery.
"""

from __future__ import annotations

import fnmatch
import functools
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

#: Keys that ship with the embedded default so the quick start works; never use them in production.
DEV_KEYS = {
    "storefront": "dev-storefront-key",
    "crm": "dev-crm-key",
    "erp": "dev-erp-key",
    "ops": "dev-ops-key",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClientSettings(_Model):
    """One caller of the JSON-RPC edge: its bearer key and the methods it may call (globs)."""

    key: SecretStr
    methods: tuple[str, ...]

    def may_call(self, method: str) -> bool:
        """Tell whether this client's method patterns admit ``method``."""
        return _admits(self.methods, method)


@functools.lru_cache(maxsize=4096)
def _admits(patterns: tuple[str, ...], method: str) -> bool:
    # Cached: a permission check runs on every call, and the patterns never change.
    return any(fnmatch.fnmatchcase(method, pattern) for pattern in patterns)


def _default_clients() -> dict[str, ClientSettings]:
    methods = {
        "storefront": (
            "order.*",
            "message.get",
            "prices.get",
            "balance.get",
            "cart.*",
            "invoice.*",
            "reconciliation.*",
            "rpc.discover",
        ),
        "crm": ("account.*", "message.get", "rpc.discover"),
        "erp": ("order.status_changed", "document.*", "message.get", "rpc.discover"),
        "ops": ("*",),
    }
    return {
        name: ClientSettings(key=SecretStr(DEV_KEYS[name]), methods=allowed)
        for name, allowed in methods.items()
    }


class RetryPolicy(_Model):
    """How a target is retried: attempts, exponential backoff bounds with jitter, and a deadline."""

    max_attempts: int = Field(default=10, ge=1)
    backoff_min: float = Field(default=1.0, gt=0, description="seconds before the 2nd attempt")
    backoff_max: float = Field(default=600.0, gt=0, description="cap of one backoff, seconds")
    deadline: float = Field(default=86_400.0, gt=0, description="give up this long after accept")
    attempt_timeout: float = Field(default=30.0, gt=0, description="one attempt's time budget")


class NavisionSettings(_Model):
    """Where and how to reach Microsoft Dynamics NAV / Business Central over OData v4."""

    url: str = "http://127.0.0.1:7048/DynamicsNAV110/ODataV4"
    company: str = "CRONUS"
    username: str = "bus"
    password: SecretStr = SecretStr("bus-secret")
    retry: RetryPolicy = RetryPolicy()


class Limits(_Model):
    """Limits of the JSON-RPC edge."""

    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_batch: int = Field(default=100, ge=1)
    call_timeout: float = Field(default=10.0, gt=0)
    batch_concurrency: int = Field(default=16, ge=1)


class QueueSettings(_Model):
    """Delivery workers, leases and the sweeper."""

    lease: float = Field(default=120.0, gt=0, description="a claim's lease, seconds")
    sweep_interval: float = Field(default=5.0, gt=0)
    requeue_after: float = Field(
        default=60.0, gt=0, description="re-enqueue a message queued but not claimed this long"
    )
    worker_threads: int = Field(default=8, ge=1)
    worker_timeout_ms: int = Field(default=20, ge=1, description="idle poll of a worker, ms")
    accept_batch: int = Field(default=500, ge=1, description="most accepts in one commit")
    accept_writers: int = Field(default=2, ge=1, description="concurrent accept commits")


class Settings(BaseSettings):
    """All settings of one bus deployment."""

    model_config = SettingsConfigDict(
        env_prefix="BUS_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    database_url: str = "sqlite+aiosqlite:///bus.db"
    redis_url: str | None = None
    redis_namespace: str = "bus"
    host: str = "127.0.0.1"
    port: int = 8080
    erp: Literal["navision"] = "navision"
    clients: dict[str, ClientSettings] = Field(default_factory=_default_clients)
    navision: NavisionSettings = NavisionSettings()
    limits: Limits = Limits()
    queue: QueueSettings = QueueSettings()

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, url: str) -> str:
        # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which we do not ship.
        if url.startswith(("postgresql://", "postgres://")):
            return "postgresql+asyncpg://" + url.split("://", 1)[1]
        if url.startswith("sqlite://") and not url.startswith("sqlite+aiosqlite://"):
            return "sqlite+aiosqlite://" + url.split("://", 1)[1]
        return url

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("BUS_CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    @property
    def is_postgres(self) -> bool:
        """True when the journal lives in PostgreSQL."""
        return self.database_url.startswith("postgresql")

    def uses_dev_keys(self) -> bool:
        """True when any client still has a key from ``DEV_KEYS``."""
        dev = set(DEV_KEYS.values())
        return any(c.key.get_secret_value() in dev for c in self.clients.values())

    def retry_policy(self, target: str) -> RetryPolicy:
        """Return the retry policy configured for ``target``."""
        if target == "navision":
            return self.navision.retry
        raise KeyError(target)
