"""Settings of the analytics service, from the environment, validated once at start."""
from __future__ import annotations

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    api_url: str = Field(default="http://localhost:8000", description="base URL of the GraphMemory-IDE API")
    redis_url: str = "redis://localhost:6379/1"
    cache_ttl_seconds: int = Field(default=300, ge=0, le=86400)
    dependency_timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    host: str = "0.0.0.0"
    port: int = Field(default=8002, ge=1, le=65535)
    log_level: str = "info"

    @field_validator("api_url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, v: str) -> str:
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://")
        return v


def describe_error(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        name = "_".join(str(p) for p in e["loc"]).upper()
        msg = "is required but not set" if e["type"] == "missing" else e["msg"].removeprefix("Value error, ")
        parts.append(f"{name} {msg}")
    return "invalid configuration: " + "; ".join(parts)
