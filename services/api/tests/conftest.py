from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))                  # the service: `app`
sys.path.insert(0, str(HERE.parent.parent / "testsupport"))  # real Postgres/Redis launcher
from ambient import no_ambient_tracing  # noqa: E402,F401 - autouse: Dagger's own OTEL_*/TRACEPARENT stay out of the tests
sys.path.insert(0, str(HERE.parent.parent / "common"))  # graphmemory_common: metrics and logs shared with the other service

import backing  # noqa: E402
from graphproc import GraphProcess  # noqa: E402

from app.main import create_app  # noqa: E402
from app.settings import Settings  # noqa: E402

KEY = "test-bootstrap-key-0123456789"


@pytest.fixture(scope="session")
def pg_url():
    with backing.postgres() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url():
    with backing.redis() as url:
        yield url


BOTH_GRAPHS = pytest.mark.parametrize("graph_mode", ["embedded", "graph-service"])
"""Runs a test twice: the graph opened in the API's own process (KUZU_DB_PATH), and the graph service (`python -m app
graph`, a child process) reached at GRAPH_URL, as Kubernetes and compose run it. On the tests whose answers come from
the graph; the others (validation, Postgres and Redis outages) run embedded only."""


@pytest.fixture
def graph_mode() -> str:
    """The API's graph in a test: embedded unless the test is marked BOTH_GRAPHS."""
    return "embedded"


@pytest.fixture
def graph_source(graph_mode, tmp_path):
    """The settings that give the API its graph: a folder, or the URL of a graph service started for the test."""
    if graph_mode == "embedded":
        yield {"kuzu_db_path": tmp_path / "kuzu"}
        return
    g = GraphProcess(tmp_path / "graph").start()
    try:
        yield {"graph_url": g.url}
    finally:
        g.stop()


@pytest.fixture
def make_client(graph_source, pg_url, redis_url):
    import redis as _redis

    _redis.Redis.from_url(redis_url).flushdb()  # tests share one Redis: start each clean
    clients = []

    def make(**overrides) -> TestClient:
        env = dict(graph_source, database_url=pg_url, redis_url=redis_url,
                   bootstrap_api_key=KEY, dependency_timeout_seconds=1.0)
        env.update(overrides)
        c = TestClient(create_app(Settings(**env)))
        c.__enter__()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def client(make_client):
    return make_client()


@pytest.fixture
def auth():
    return {"X-API-Key": KEY}
