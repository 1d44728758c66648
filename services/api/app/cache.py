"""Search results cached in Redis. Every write bumps a generation counter that is part of each cache key, so a
write invalidates all cached searches at once without scanning keys. Redis being down never fails a search: the
API answers from Kuzu and counts the miss (readiness reports Redis separately)."""
from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import redis.asyncio as aioredis

from .metrics import CACHE, timed

log = logging.getLogger("gmi.cache")
GEN_KEY = "gmi:search:gen"


class SearchCache:
    def __init__(self, url: str, ttl: int, timeout: float):
        self._r = aioredis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._ttl = ttl

    async def ping(self) -> None:
        with timed("redis", "ping"):
            await self._r.ping()

    async def _key(self, q: str, project: str | None, limit: int) -> str:
        gen = await self._r.get(GEN_KEY) or b"0"
        h = hashlib.sha256(json.dumps([q.lower(), project, limit]).encode()).hexdigest()[:32]
        return f"gmi:search:{gen.decode()}:{h}"

    async def get(self, q: str, project: str | None, limit: int) -> tuple[str | None, Any]:
        if self._ttl == 0:
            return None, None
        try:
            with timed("redis", "get"):
                key = await self._key(q, project, limit)
                raw = await self._r.get(key)
        except Exception as e:  # noqa: BLE001 - cache is best effort
            log.warning("search cache unavailable: %s", e)
            CACHE.labels("error").inc()
            return None, None
        CACHE.labels("hit" if raw else "miss").inc()
        return key, (json.loads(raw) if raw else None)

    async def put(self, key: str | None, value: Any) -> None:
        if key is None:
            return
        try:
            with timed("redis", "set"):
                await self._r.set(key, json.dumps(value, default=str), ex=self._ttl)
        except Exception as e:  # noqa: BLE001
            log.warning("search cache unavailable: %s", e)

    async def invalidate(self) -> None:
        try:
            with timed("redis", "incr"):
                await self._r.incr(GEN_KEY)
        except Exception as e:  # noqa: BLE001
            log.warning("search cache invalidation failed: %s", e)

    async def close(self) -> None:
        await self._r.aclose()
