"""API keys in Postgres. Keys are random 32-byte tokens, so a SHA-256 digest is a sufficient hash: only digests are
stored, and a lookup is by digest. The schema is created on first contact; a bootstrap key (from BOOTSTRAP_API_KEY or
BOOTSTRAP_API_KEY_FILE) is registered then, so a fresh stack is usable."""
from __future__ import annotations

import asyncio
import hashlib
import secrets

import asyncpg

from .metrics import timed

SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL,
    key_hash    TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used   TIMESTAMPTZ,
    revoked     BOOLEAN NOT NULL DEFAULT FALSE
)
"""


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    def __init__(self, dsn: str, timeout: float, bootstrap_key: str | None):
        self._dsn = dsn
        self._timeout = timeout
        self._bootstrap = bootstrap_key
        self._pool: asyncpg.Pool | None = None
        self._init_lock = asyncio.Lock()

    async def _ensure(self) -> asyncpg.Pool:
        """Connect (and create the schema) lazily, so the API starts and stays live while Postgres is down."""
        if self._pool is not None:
            return self._pool
        async with self._init_lock:
            if self._pool is None:
                pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=4, timeout=self._timeout,
                                                 command_timeout=self._timeout)
                async with pool.acquire() as c:
                    await c.execute(SCHEMA)
                    if self._bootstrap:
                        await c.execute("INSERT INTO api_keys(name, key_hash) VALUES('bootstrap', $1) "
                                        "ON CONFLICT (key_hash) DO NOTHING", digest(self._bootstrap))
                self._pool = pool
        return self._pool

    async def ping(self) -> None:
        pool = await self._ensure()
        with timed("postgres", "ping"):
            async with pool.acquire(timeout=self._timeout) as c:
                await c.fetchval("SELECT 1")

    async def verify(self, key: str) -> bool:
        pool = await self._ensure()
        with timed("postgres", "verify_key"):
            row = await pool.fetchval(
                "UPDATE api_keys SET last_used = now() WHERE key_hash = $1 AND NOT revoked RETURNING id",
                digest(key), timeout=self._timeout)
        return row is not None

    async def create(self, name: str) -> str:
        pool = await self._ensure()
        key = "gmi_" + secrets.token_urlsafe(32)
        with timed("postgres", "create_key"):
            await pool.execute("INSERT INTO api_keys(name, key_hash) VALUES($1, $2)", name, digest(key),
                               timeout=self._timeout)
        return key

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
