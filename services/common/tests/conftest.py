from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # graphmemory_common

from graphmemory_common import logs  # noqa: E402
from graphmemory_common.metrics import HttpMetrics, HttpMetricsMiddleware  # noqa: E402


def make_app(metrics: HttpMetrics) -> FastAPI:
    """A real FastAPI app wired as the services wire theirs: metrics inside, logs outermost (added last)."""
    app = FastAPI()
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics)
    app.add_middleware(logs.RequestLogMiddleware)

    @app.get("/items/{item_id}")
    def item(item_id: str):
        if item_id == "missing":
            raise HTTPException(404, "no such item")
        if item_id == "boom":
            raise RuntimeError("unhandled")
        return {"id": item_id, "request_id": logs.REQUEST_ID.get()}

    @app.get("/health")
    def health():
        return {"status": "ok"}

    return app


@pytest.fixture
def metrics():
    return HttpMetrics("test_svc", store_help="Test store latency", store_buckets=(0.001, 0.01, 0.1, 1))


@pytest.fixture
def client(metrics):
    with TestClient(make_app(metrics), raise_server_exceptions=False) as c:
        yield c


def run_lifespan(middleware_of) -> tuple[list, list]:
    """Drives `middleware_of(app)` with one lifespan startup; returns what the inner app saw and what was sent."""
    seen, sent = [], []

    async def app(scope, receive, send):
        seen.append((scope, await receive()))
        await send({"type": "lifespan.startup.complete"})

    async def receive():
        return {"type": "lifespan.startup"}

    async def send(message):
        sent.append(message)

    asyncio.run(middleware_of(app)({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send))
    return seen, sent
