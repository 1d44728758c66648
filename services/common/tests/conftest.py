from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # graphmemory_common

from graphmemory_common import logs  # noqa: E402
from graphmemory_common.metrics import HttpMetrics  # noqa: E402


def make_app(metrics: HttpMetrics) -> FastAPI:
    """A real FastAPI app wired as the services wire theirs: metrics inside, logs outermost."""
    app = FastAPI()
    app.middleware("http")(metrics.middleware)
    app.middleware("http")(logs.middleware)

    @app.get("/items/{item_id}")
    def item(item_id: str):
        if item_id == "missing":
            raise HTTPException(404, "no such item")
        if item_id == "boom":
            raise RuntimeError("unhandled")
        return {"id": item_id}

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
