"""Settings of the API, read from the environment and validated once at start."""
from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def writable_dir(v: Path) -> Path:
    """The folder, created if missing; refused (naming the folder and the uid) when this process cannot write it."""
    try:
        v.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"cannot create directory {v}: {e.strerror}") from None
    if not v.is_dir():
        raise ValueError(f"{v} is not a directory")
    probe = v / ".write-probe"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise ValueError(f"directory {v} is not writable by uid {os.getuid()}: {e.strerror}") from None
    return v


class Settings(BaseSettings):
    """The API. With GRAPH_URL it reads and writes the graph through the graph service (several replicas can run);
    without it, it opens the Kuzu database in KUZU_DB_PATH itself (one process: tests, a single container)."""
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    graph_url: str | None = Field(default=None, description="http://host:port of the graph service")
    graph_retry_seconds: float = Field(default=20.0, ge=0, le=120,
                                       description="how long a request waits for the graph service to come back")
    graph_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    kuzu_db_path: Path | None = Field(default=None, description="directory (a volume) that holds the Kuzu database file")
    kuzu_buffer_pool_mb: int = Field(default=256, ge=16, le=4096)
    database_url: SecretStr = Field(description="postgresql://user:pass@host:port/db holding API keys")
    redis_url: str = Field(default="redis://localhost:6379/0")
    bootstrap_api_key: SecretStr | None = None
    bootstrap_api_key_file: Path | None = None
    search_cache_ttl_seconds: int = Field(default=60, ge=0, le=86400)
    dependency_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    host: str = "0.0.0.0"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "info"

    @field_validator("graph_url")
    @classmethod
    def _graph_scheme(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v or None

    @field_validator("kuzu_db_path")
    @classmethod
    def _writable_dir(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        if v is None or info.data.get("graph_url"):  # the graph service owns the database: no folder here
            return v
        return writable_dir(v)

    @field_validator("database_url")
    @classmethod
    def _pg_scheme(cls, v: SecretStr) -> SecretStr:
        if not v.get_secret_value().startswith(("postgresql://", "postgres://")):
            raise ValueError("must start with postgresql://")
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, v: str) -> str:
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://")
        return v

    @model_validator(mode="after")
    def _graph_source(self) -> "Settings":
        if self.graph_url is None and self.kuzu_db_path is None:
            raise ValueError("KUZU_DB_PATH is required but not set (or GRAPH_URL, the graph service's address)")
        return self

    @model_validator(mode="after")
    def _read_key_file(self) -> "Settings":
        if self.bootstrap_api_key is None and self.bootstrap_api_key_file is not None:
            try:
                key = self.bootstrap_api_key_file.read_text().strip()
            except OSError as e:
                raise ValueError(f"BOOTSTRAP_API_KEY_FILE {self.bootstrap_api_key_file}: {e.strerror}") from None
            if len(key) < 16:
                raise ValueError("BOOTSTRAP_API_KEY_FILE must hold a key of at least 16 characters")
            self.bootstrap_api_key = SecretStr(key)
        if self.bootstrap_api_key is not None and len(self.bootstrap_api_key.get_secret_value()) < 16:
            raise ValueError("BOOTSTRAP_API_KEY must be at least 16 characters")
        return self

    @property
    def kuzu_file(self) -> Path:
        assert self.kuzu_db_path is not None
        return self.kuzu_db_path / "memory.kuzu"


class GraphSettings(BaseSettings):
    """The graph service (`python -m app graph`): the one process that opens the Kuzu database."""
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    kuzu_db_path: Path = Field(description="directory (a volume) that holds the Kuzu database file")
    kuzu_buffer_pool_mb: int = Field(default=256, ge=16, le=4096)
    graph_lock_wait_seconds: float = Field(default=60.0, ge=0, le=600,
                                           description="how long to wait for a previous process to release the database")
    host: str = "0.0.0.0"
    port: int = Field(default=8001, ge=1, le=65535, validation_alias="GRAPH_PORT")
    log_level: str = "info"

    @field_validator("kuzu_db_path")
    @classmethod
    def _writable_dir(cls, v: Path) -> Path:
        return writable_dir(v)

    @property
    def kuzu_file(self) -> Path:
        return self.kuzu_db_path / "memory.kuzu"


def describe_error(err: ValidationError) -> str:
    """One line naming every bad setting (by its environment variable) and why."""
    parts = []
    for e in err.errors():
        name = "_".join(str(p) for p in e["loc"]).upper() or "settings"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "missing":
            msg = "is required but not set"
        parts.append(f"{name} {msg}" if e["loc"] else msg)
    return "invalid configuration: " + "; ".join(parts)
