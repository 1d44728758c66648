"""A page run is one trace: the page's span is its root, each read a client span under it, and the API and analytics
receive that trace's W3C context (`traceparent`), so their spans join it. Spans go to an in-memory exporter here;
services/smoke/tracing_smoke.py checks the same trace in Jaeger with the real services."""
from __future__ import annotations

import re

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import tracing
from test_dashboard import run

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")  # version-trace-parent-flags


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    tracing.setup(exporter)
    yield exporter
    tracing.close()


def test_off_without_an_endpoint(monkeypatch):
    for v in tracing.ENDPOINT_VARS:
        monkeypatch.delenv(v, raising=False)
    assert not tracing.enabled() and tracing.setup() is None
    assert tracing.enabled({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert not tracing.enabled({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"})


def test_a_page_run_is_one_trace_sent_on_to_the_api_and_analytics(monkeypatch, spans, api, analytics):
    run(monkeypatch, api.url, analytics.url)
    done = spans.get_finished_spans()
    page = [s for s in done if s.name == "dashboard page"]
    assert len(page) == 1 and page[0].parent is None and page[0].kind == SpanKind.SERVER
    trace_id, page_id = page[0].context.trace_id, page[0].context.span_id
    assert page[0].resource.attributes["service.name"] == "dashboard"
    reads = [s for s in done if s.kind == SpanKind.CLIENT]
    assert len(reads) == 3, [s.name for s in done]
    assert all(s.context.trace_id == trace_id and s.parent.span_id == page_id for s in reads)
    sent = [TRACEPARENT.match(h.get("traceparent", "")) for h in api.headers + analytics.headers]
    assert len(sent) == 3 and all(sent), [h.get("traceparent") for h in api.headers + analytics.headers]
    assert {int(m.group(1), 16) for m in sent} == {trace_id}
    assert {int(m.group(2), 16) for m in sent} == {s.context.span_id for s in reads}
    assert all(int(m.group(3), 16) & 1 for m in sent)  # sampled: the services keep their part of the trace
