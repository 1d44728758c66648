"""Traces: a summary request continues its caller's W3C trace (the dashboard's), and analytics' calls of it — the
API (which receives the context in `traceparent`, so its spans join) and Redis — are spans under the request's span.
A real Redis and a stand-in API over HTTP; tracing on as a deployment sets it (OTEL_EXPORTER_OTLP_ENDPOINT), spans
kept in memory instead of exported. services/smoke/tracing_smoke.py follows the same trace into Jaeger."""
from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from opentelemetry.trace import SpanKind

from app.main import create_app
from app.settings import Settings
from traced import spans  # noqa: F401 - the fixture

TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
PARENT_ID = 0xB7AD6B7169203331
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def test_a_summary_continues_the_callers_trace_to_the_api_and_redis(spans, api, redis_url):
    api.add("a", ["otel"])
    app = create_app(Settings(api_url=api.url, redis_url=redis_url))
    try:
        with TestClient(app) as c:
            r = c.get("/analytics/summary?refresh=true", headers={"traceparent": f"00-{TRACE_ID:032x}-{PARENT_ID:016x}-01"})
            assert r.status_code == 200
    finally:
        app.state.tracing.close()
    done = spans.get_finished_spans()
    [server] = [s for s in done if s.kind == SpanKind.SERVER]
    assert server.resource.attributes["service.name"] == "analytics"
    assert server.context.trace_id == TRACE_ID and server.parent.span_id == PARENT_ID
    calls = [s for s in done if s.kind == SpanKind.CLIENT]
    assert all(s.context.trace_id == TRACE_ID and s.parent.span_id == server.context.span_id for s in calls)
    http_calls = [s for s in calls if s.attributes.get("db.system") != "redis"]
    redis_calls = [s for s in calls if s.attributes.get("db.system") == "redis"]
    assert len(http_calls) == 2 and len(redis_calls) == 1, [(s.name, dict(s.attributes)) for s in calls]  # /status, /graph; SET
    sent = [TRACEPARENT.match(h or "") for h in api.traceparents]
    assert len(sent) == 2 and all(sent), api.traceparents
    assert {int(m.group(1), 16) for m in sent} == {TRACE_ID}
    assert {int(m.group(2), 16) for m in sent} == {s.context.span_id for s in http_calls}
