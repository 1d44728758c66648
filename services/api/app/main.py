"""GraphMemory-IDE API: memories and links in a Kuzu graph, API keys in Postgres, search cache in Redis.

The graph is the graph service (GRAPH_URL: app/graph_server.py, the single writer) or, without GRAPH_URL, a Kuzu
database this process opens itself (KUZU_DB_PATH)."""
from __future__ import annotations

import asyncio
import logging
import re
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from graphmemory_common import logs, tracing
from graphmemory_common.metrics import HttpMetricsMiddleware
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field, field_validator

from . import metrics
from .cache import SearchCache
from .graph import Graph
from .graph_client import GraphUnavailable, RemoteGraph
from .keys import KeyStore
from .settings import Settings

VERSION = "0.1.0"
log = logging.getLogger("gmi.api")
PROJECT_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
ID_RE = r"^[0-9a-f]{32}$"


def get_graph(request: Request) -> Graph | RemoteGraph:
    return request.app.state.graph


G = Annotated[Graph | RemoteGraph, Depends(get_graph)]


def open_graph(settings: Settings) -> Graph | RemoteGraph:
    """The graph service's client when GRAPH_URL is set, else the Kuzu database in KUZU_DB_PATH."""
    if settings.graph_url:
        return RemoteGraph(settings.graph_url, settings.graph_timeout_seconds, settings.graph_retry_seconds)
    return Graph(settings.kuzu_file, settings.kuzu_buffer_pool_mb)


async def close_graph(graph: Graph | RemoteGraph) -> None:
    if isinstance(graph, RemoteGraph):
        await graph.close()
    else:
        graph.close()


class MemoryIn(BaseModel):
    text: str = Field(min_length=1, max_length=10_000)
    tags: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list, max_length=32)
    project: str = Field(default="default", pattern=PROJECT_RE)

    @field_validator("tags")
    @classmethod
    def _norm_tags(cls, v: list[str]) -> list[str]:
        out: list[str] = []
        for t in (t.strip().lower() for t in v):
            if not re.fullmatch(r"[a-z0-9][a-z0-9_.:/-]*", t):
                raise ValueError(f"tag {t!r} must be letters, digits and _.:/- only")
            if t not in out:
                out.append(t)
        return out


class Memory(BaseModel):
    id: str
    text: str
    project: str
    tags: list[str]
    created_at: datetime


class Neighbor(Memory):
    distance: int


class LinkIn(BaseModel):
    target_id: str = Field(pattern=ID_RE)
    kind: str = Field(default="related", pattern=r"^[a-z][a-z0-9_-]{0,31}$")


class KeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.graph = open_graph(settings)
        boot = settings.bootstrap_api_key.get_secret_value() if settings.bootstrap_api_key else None
        app.state.keys = KeyStore(settings.database_url.get_secret_value(), settings.dependency_timeout_seconds, boot)
        app.state.cache = SearchCache(settings.redis_url, settings.search_cache_ttl_seconds,
                                      settings.dependency_timeout_seconds)
        try:  # best effort: create the key table now; if Postgres is not up yet this happens on first use
            await asyncio.wait_for(app.state.keys.ping(), settings.dependency_timeout_seconds)
        except Exception as e:  # noqa: BLE001
            log.warning("postgres not reachable at start (%s); will retry on use", e)
        yield
        await app.state.cache.close()
        await app.state.keys.close()
        await close_graph(app.state.graph)

    app = FastAPI(title="GraphMemory-IDE API", version=VERSION, lifespan=lifespan)
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics.HTTP)
    app.add_middleware(logs.RequestLogMiddleware)  # added last, so outermost: the request id is set for all inside
    # spans when OTEL_EXPORTER_OTLP_ENDPOINT is set: requests, the graph service calls, Postgres and Redis
    app.state.tracing = tracing.setup(app, "api", instrument=("httpx", "asyncpg", "redis"))

    @app.exception_handler(GraphUnavailable)
    async def graph_unavailable(request: Request, exc: GraphUnavailable):
        log.error("%s", exc)
        return JSONResponse({"detail": f"graph store unavailable: {exc}"}, status_code=503)

    async def require_key(request: Request, x_api_key: Annotated[str | None, Header()] = None) -> None:
        if not x_api_key:
            raise HTTPException(401, "missing API key: send it in the X-API-Key header",
                                headers={"WWW-Authenticate": "X-API-Key"})
        try:
            ok = await request.app.state.keys.verify(x_api_key)
        except Exception as e:  # noqa: BLE001
            log.error("key check failed: %s", e)
            raise HTTPException(503, "postgres unavailable: cannot verify the API key") from None
        if not ok:
            raise HTTPException(401, "invalid or revoked API key", headers={"WWW-Authenticate": "X-API-Key"})

    Auth = Depends(require_key)

    # -- operational --------------------------------------------------------------------------------------------------
    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.get("/ready")
    async def ready(request: Request):
        st = request.app.state
        timeout = settings.dependency_timeout_seconds
        checks: dict[str, str] = {}
        for name, probe in (("kuzu", st.graph.ping), ("postgres", st.keys.ping), ("redis", st.cache.ping)):
            try:
                await asyncio.wait_for(probe(), timeout)
                checks[name] = "ok"
            except Exception as e:  # noqa: BLE001
                checks[name] = f"error: {type(e).__name__}: {e}"[:200]
        failing = [k for k, v in checks.items() if v != "ok"]
        body = {"status": "ready" if not failing else "unavailable", "failing": failing, "checks": checks}
        return JSONResponse(body, status_code=503 if failing else 200)

    @app.get("/metrics")
    async def prometheus():
        return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @app.get("/status")
    async def status(g: G):
        return {"service": "api", "version": VERSION, **(await g.counts())}

    # -- memories -----------------------------------------------------------------------------------------------------
    @app.post("/memories", status_code=201, response_model=Memory, dependencies=[Auth])
    async def create_memory(body: MemoryIn, g: G, request: Request):
        m = await g.create_memory(body.text, body.tags, body.project)
        await request.app.state.cache.invalidate()
        return m

    @app.get("/memories", response_model=list[Memory])
    async def recent(g: G, limit: int = Query(20, ge=1, le=200), project: str | None = Query(None, pattern=PROJECT_RE)):
        return await g.recent(limit, project)

    @app.get("/memories/{memory_id}", response_model=Memory)
    async def get_memory(g: G, memory_id: str):
        m = await g.get_memory(memory_id)
        if m is None:
            raise HTTPException(404, f"memory {memory_id} not found")
        return m

    @app.post("/memories/{memory_id}/links", status_code=201, dependencies=[Auth])
    async def link(memory_id: str, body: LinkIn, g: G, request: Request):
        if memory_id == body.target_id:
            raise HTTPException(422, "a memory cannot link to itself")
        for mid in (memory_id, body.target_id):
            if await g.get_memory(mid) is None:
                raise HTTPException(404, f"memory {mid} not found")
        await g.link(memory_id, body.target_id, body.kind)
        await request.app.state.cache.invalidate()
        return {"source": memory_id, "target": body.target_id, "kind": body.kind}

    @app.get("/memories/{memory_id}/neighbors", response_model=list[Neighbor])
    async def neighbors(memory_id: str, g: G, depth: int = Query(1, ge=1, le=5)):
        if await g.get_memory(memory_id) is None:
            raise HTTPException(404, f"memory {memory_id} not found")
        return await g.neighbors(memory_id, depth)

    @app.get("/search")
    async def search(request: Request, g: G, q: str = Query(min_length=1, max_length=200),
                     project: str | None = Query(None, pattern=PROJECT_RE), limit: int = Query(20, ge=1, le=200)):
        cache: SearchCache = request.app.state.cache
        key, hit = await cache.get(q, project, limit)
        if hit is not None:
            return {"query": q, "cached": True, "results": hit}
        results = [Memory(**m).model_dump(mode="json") for m in await g.search(q, project, limit)]
        await cache.put(key, results)
        return {"query": q, "cached": False, "results": results}

    @app.get("/graph")
    async def export(g: G):
        """The whole graph (ids, projects, tags, edges) for the analytics service."""
        return await g.export()

    # -- keys ---------------------------------------------------------------------------------------------------------
    @app.post("/api-keys", status_code=201, dependencies=[Auth])
    async def create_key(body: KeyIn, request: Request):
        return {"name": body.name, "key": await request.app.state.keys.create(body.name)}

    return app
