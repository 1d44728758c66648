"""Traces: a request continues its caller's W3C trace (the dashboard's, analytics'), and the API's calls of it — the
graph service, Postgres, Redis — are spans of that trace under the request's span; its log lines name the trace.
Real Postgres, Redis and Kuzu (and the graph service as a child process); tracing is switched on as a deployment
does it (OTEL_EXPORTER_OTLP_ENDPOINT set), with the spans kept in memory instead of exported (the one stand-in).
services/smoke/tracing_smoke.py follows the same trace into Jaeger with the real images."""
from __future__ import annotations

import io
import json
import logging

import pytest
from fastapi.testclient import TestClient
from opentelemetry.trace import SpanKind

from app.main import create_app
from app.settings import Settings
from traced import spans  # noqa: F401 - the fixture
from conftest import BOTH_GRAPHS, KEY
from graphmemory_common import logs, tracing

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
PARENT_ID = 0x00F067AA0BA902B7
TRACEPARENT = f"00-{TRACE_ID:032x}-{PARENT_ID:016x}-01"


@pytest.fixture
def traced_client(spans, graph_source, pg_url, redis_url):
    app = create_app(Settings(**graph_source, database_url=pg_url, redis_url=redis_url, bootstrap_api_key=KEY,
                              dependency_timeout_seconds=2.0))
    assert app.state.tracing is not None
    with TestClient(app) as c:
        yield c
    app.state.tracing.close()


@pytest.fixture
def access_lines():
    """The access lines, formatted as they are written (inside the request, so with its span)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    log = logging.getLogger("gmi.access")
    log.addHandler(handler)
    level = log.level
    log.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    log.removeHandler(handler)
    log.setLevel(level)


def descendants(done, root):
    """The spans under `root` (children, their children, ...)."""
    ids, out = {root.context.span_id}, []
    for _ in range(len(done)):
        for s in done:
            if s.parent is not None and s.parent.span_id in ids and s.context.span_id not in ids:
                ids.add(s.context.span_id)
                out.append(s)
    return out


def test_off_without_an_endpoint(client, monkeypatch):
    for v in tracing.ENDPOINT_VARS:
        monkeypatch.delenv(v, raising=False)
    assert client.app.state.tracing is None
    assert not tracing.enabled({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"})


@BOTH_GRAPHS
def test_a_request_continues_the_callers_trace(traced_client, spans, access_lines, graph_mode):
    r = traced_client.get("/memories?limit=5", headers={"traceparent": TRACEPARENT})
    assert r.status_code == 200
    done = spans.get_finished_spans()
    [server] = [s for s in done if s.kind == SpanKind.SERVER]
    assert server.name == "GET /memories" and server.resource.attributes["service.name"] == "api"
    assert server.context.trace_id == TRACE_ID and server.parent.span_id == PARENT_ID and server.parent.is_remote
    under = descendants(done, server)  # (the app's start has spans too: its Postgres check, each a trace of its own)
    assert all(s.context.trace_id == TRACE_ID for s in under)
    calls = [s for s in under if s.kind == SpanKind.CLIENT]
    if graph_mode == "graph-service":  # the graph service's call, which carries the trace on (httpx injects it)
        assert [s.attributes.get("url.full", s.attributes.get("http.url", "")).split("?")[0].rsplit("/", 1)[-1]
                for s in calls] == ["recent"], [(s.name, dict(s.attributes)) for s in calls]
    else:
        assert calls == []
    [line] = [line for line in access_lines() if line.get("route") == "/memories"]
    assert line["trace_id"] == f"{TRACE_ID:032x}" and line["span_id"] == f"{server.context.span_id:016x}"
    assert line["trace_sampled"] is True


def test_postgres_and_redis_calls_are_spans_of_the_request(traced_client, spans):
    r = traced_client.post("/memories", json={"text": "traced", "tags": ["otel"]},
                           headers={"X-API-Key": KEY, "traceparent": TRACEPARENT})
    assert r.status_code == 201
    done = spans.get_finished_spans()
    [server] = [s for s in done if s.kind == SpanKind.SERVER]
    under = descendants(done, server)
    systems = {s.attributes.get("db.system", s.attributes.get("db.system.name")) for s in under if s.kind == SpanKind.CLIENT}
    assert {"postgresql", "redis"} <= systems, [(s.name, dict(s.attributes)) for s in under]
    assert all(s.context.trace_id == TRACE_ID for s in under)


def test_a_request_without_context_starts_a_trace(traced_client, spans):
    traced_client.get("/status")
    [server] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert server.parent is None and server.context.trace_id != TRACE_ID


def test_probes_and_scrapes_make_no_spans(traced_client, spans):
    for path in ("/health", "/ready", "/metrics"):
        traced_client.get(path)
    assert [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER] == []
