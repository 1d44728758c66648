"""GraphMemory-IDE analytics: degree centrality, connected components and top tags of the memory graph.

The graph is read through the API's HTTP routes (/status, /graph), never from the Kuzu file: Kuzu is embedded and
its database is owned by the one API process (a second read-write open of the same file is refused, and a
read-only one would not see the API's writes), and the API stays the only owner of the data model. Results are
cached in Redis under a key made of the API's memory and link counts, so a write yields a new key at once while
repeated reads of an unchanged graph cost one small /status call.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from contextlib import asynccontextmanager
from typing import Any

import httpx
import redis.asyncio as aioredis
from fastapi import FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from graphmemory_common import logs, tracing
from graphmemory_common.metrics import HttpMetricsMiddleware
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from . import metrics
from .graphmath import summarize
from .settings import Settings

VERSION = "0.1.0"
log = logging.getLogger("gmi.analytics")


class Upstream(Exception):
    pass


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        t = settings.dependency_timeout_seconds
        app.state.http = httpx.AsyncClient(base_url=settings.api_url, timeout=t)
        app.state.redis = aioredis.from_url(settings.redis_url, socket_timeout=t, socket_connect_timeout=t)
        yield
        await app.state.http.aclose()
        await app.state.redis.aclose()

    app = FastAPI(title="GraphMemory-IDE analytics", version=VERSION, lifespan=lifespan)
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics.HTTP)
    app.add_middleware(logs.RequestLogMiddleware)  # added last, so outermost: the request id is set for all inside
    # spans when OTEL_EXPORTER_OTLP_ENDPOINT is set: requests, the API calls, Redis
    app.state.tracing = tracing.setup(app, "analytics", instrument=("httpx", "redis"))

    async def api_get(request: Request, path: str) -> Any:
        try:
            with metrics.timed("api", path):
                r = await request.app.state.http.get(path)
            r.raise_for_status()
            return r.json()
        except (httpx.HTTPError, ValueError) as e:
            raise Upstream(f"api unavailable at {settings.api_url}{path}: {type(e).__name__}: {e}") from None

    async def summary(request: Request, top: int, refresh: bool) -> dict[str, Any]:
        r: aioredis.Redis = request.app.state.redis
        status = await api_get(request, "/status")
        key = f"gmi:analytics:v1:{status['memories']}:{status['links']}:{top}"
        if not refresh and settings.cache_ttl_seconds:
            try:
                with metrics.timed("redis", "get"):
                    raw = await r.get(key)
                metrics.CACHE.labels("hit" if raw else "miss").inc()
                if raw:
                    return json.loads(raw) | {"cached": True}
            except Exception as e:  # noqa: BLE001 - the cache is best effort
                metrics.CACHE.labels("error").inc()
                log.warning("redis unavailable: %s", e)
        graph = await api_get(request, "/graph")
        t0 = time.perf_counter()
        result = summarize(graph, top) | {"computed_at": time.time()}
        metrics.COMPUTE.observe(time.perf_counter() - t0)
        if settings.cache_ttl_seconds:
            try:
                with metrics.timed("redis", "set"):
                    await r.set(key, json.dumps(result), ex=settings.cache_ttl_seconds)
            except Exception as e:  # noqa: BLE001
                log.warning("redis unavailable: %s", e)
        return result | {"cached": False}

    async def guarded(request: Request, top: int, refresh: bool) -> dict[str, Any]:
        try:
            return await summary(request, top, refresh)
        except Upstream as e:
            raise HTTPException(503, str(e)) from None

    Top = Query(10, ge=1, le=100)

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.get("/ready")
    async def ready(request: Request):
        checks: dict[str, str] = {}

        async def api():
            await api_get(request, "/health")

        for name, probe in (("api", api), ("redis", request.app.state.redis.ping)):
            try:
                await asyncio.wait_for(probe(), settings.dependency_timeout_seconds)
                checks[name] = "ok"
            except Exception as e:  # noqa: BLE001
                checks[name] = f"error: {type(e).__name__}: {e}"[:200]
        failing = [k for k, v in checks.items() if v != "ok"]
        return JSONResponse({"status": "unavailable" if failing else "ready", "failing": failing, "checks": checks},
                            status_code=503 if failing else 200)

    @app.get("/metrics")
    async def prometheus():
        return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @app.get("/analytics/summary")
    async def get_summary(request: Request, top: int = Top, refresh: bool = False):
        return await guarded(request, top, refresh)

    @app.get("/analytics/centrality")
    async def centrality(request: Request, top: int = Top, refresh: bool = False):
        s = await guarded(request, top, refresh)
        return {"cached": s["cached"], "degree_centrality": s["degree_centrality"]}

    @app.get("/analytics/components")
    async def components(request: Request, refresh: bool = False):
        s = await guarded(request, 10, refresh)
        return {"cached": s["cached"], **s["components"]}

    @app.get("/analytics/tags")
    async def tags(request: Request, top: int = Top, refresh: bool = False):
        s = await guarded(request, top, refresh)
        return {"cached": s["cached"], "top_tags": s["top_tags"]}

    return app
