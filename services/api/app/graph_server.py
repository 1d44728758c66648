"""The graph service: the one process that opens the Kuzu database (single writer), serving the graph's operations
over HTTP to the API replicas (app/graph_client.py). Run as `python -m app graph` from the API's image.

POST /ops/<operation> with the operation's arguments as a JSON object answers {"result": ...}; /health is liveness,
/ready runs a query, /metrics the same gmi_ metrics as the API (store latency under store="kuzu").
"""
from __future__ import annotations

import inspect
import logging
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import Body, FastAPI, HTTPException, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import FileResponse, JSONResponse
from graphmemory_common import logs, tracing
from graphmemory_common.metrics import HttpMetricsMiddleware
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.background import BackgroundTask

from . import metrics
from .graph import Graph, GraphError
from .settings import GraphSettings

log = logging.getLogger("gmi.graph")
# what the API may ask for: Graph's public coroutines, nothing else (close, q and the private helpers are not served)
OPERATIONS = ("ping", "create_memory", "get_memory", "recent", "link", "neighbors", "search", "counts", "export")


def create_graph_app(settings: GraphSettings, graph: Graph | None = None) -> FastAPI:
    """The graph service's app; it opens the database at start (or serves `graph`, already open) and closes it when
    the server stops (after the requests in flight have been answered: uvicorn's graceful shutdown)."""
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.graph = graph or Graph(settings.kuzu_file, settings.kuzu_buffer_pool_mb,
                                         settings.graph_lock_wait_seconds)
        log.info("graph service ready: %s", settings.kuzu_file)
        yield
        app.state.graph.close()
        log.info("graph service stopped, database closed")

    app = FastAPI(title="GraphMemory-IDE graph service", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics.HTTP)
    app.add_middleware(logs.RequestLogMiddleware)
    tracing.setup(app, "graph")  # spans when OTEL_EXPORTER_OTLP_ENDPOINT is set (the API's calls continue here)

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.get("/ready")
    async def ready(request: Request):
        try:
            await request.app.state.graph.ping()
        except Exception as e:  # noqa: BLE001
            return JSONResponse({"status": "unavailable", "failing": ["kuzu"],
                                 "checks": {"kuzu": f"error: {type(e).__name__}: {e}"[:200]}}, status_code=503)
        return {"status": "ready", "failing": [], "checks": {"kuzu": "ok"}}

    @app.get("/metrics")
    async def prometheus():
        return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

    # backups (app/backup.py): only the backup Jobs reach these (k8s/components/backup's NetworkPolicy)
    @app.get("/backup/snapshot")
    async def snapshot(request: Request):
        archive, taken = await anyio.to_thread.run_sync(request.app.state.graph.snapshot)
        return FileResponse(archive, media_type="application/gzip", headers={"x-snapshot-taken": taken},
                            background=BackgroundTask(archive.unlink, missing_ok=True))

    @app.post("/backup/restore")
    async def restore(request: Request):
        archive = request.app.state.graph._path.parent / ".restore.tar.gz"
        with archive.open("wb") as f:
            async for chunk in request.stream():
                f.write(chunk)
        try:
            return await anyio.to_thread.run_sync(request.app.state.graph.restore, archive)
        except GraphError as e:
            raise HTTPException(422, str(e)) from None
        finally:
            archive.unlink(missing_ok=True)

    @app.post("/ops/{op}")
    async def operation(op: str, request: Request, args: dict[str, Any] = Body(default_factory=dict)):
        if op not in OPERATIONS:
            raise HTTPException(404, f"unknown graph operation {op!r}: one of {', '.join(OPERATIONS)}")
        fn = getattr(request.app.state.graph, op)
        try:
            inspect.signature(fn).bind(**args)
        except TypeError as e:
            raise HTTPException(422, f"{op}: {e}") from None
        return {"result": jsonable_encoder(await fn(**args))}

    return app
