"""OpenTelemetry for the dashboard: one trace per page run, its context sent to the API and analytics.

A page run (a browser's visit or refresh: Streamlit runs app.py once) is one server span, `dashboard page`, the root
of its trace; the reads of sources.py are client spans under it (the requests instrumentation), which send the W3C
`traceparent` header, so the API's and analytics' spans (and theirs onwards: the graph service, Redis) join the same
trace. Configured like the other services (graphmemory_common/tracing.py, which this image does not ship): only when
OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, then by the SDK's own OTEL_* environment
(sampler, service name, batch limits); without it, `page()` is a no-op and nothing is imported.
"""
from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Mapping

ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_lock = threading.Lock()
_tracer = None
_provider = None


def enabled(env: Mapping[str, str] = os.environ) -> bool:
    """True when the environment asks for traces: an OTLP endpoint set, the SDK and the traces exporter not off."""
    return (any(env.get(v) for v in ENDPOINT_VARS) and env.get("OTEL_SDK_DISABLED", "").lower() != "true"
            and env.get("OTEL_TRACES_EXPORTER", "otlp").lower() != "none")


def setup(exporter=None):
    """Installs the provider (spans to `exporter` one by one when given, else batched over OTLP/HTTP) and the requests
    instrumentation, once per process; returns the page tracer, or None when tracing is off."""
    global _tracer, _provider
    with _lock:
        if _tracer is not None or (exporter is None and not enabled()):
            return _tracer
        from opentelemetry import trace
        from opentelemetry.instrumentation.requests import RequestsInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "dashboard"}
        tp = TracerProvider(resource=Resource.create(attributes))
        if exporter is not None:
            tp.add_span_processor(SimpleSpanProcessor(exporter))
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            tp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            trace.set_tracer_provider(tp)
        RequestsInstrumentor().instrument(tracer_provider=tp)
        _provider, _tracer = tp, tp.get_tracer("graphmemory.dashboard")
        return _tracer


def close() -> None:
    """Removes the requests instrumentation and stops the provider (tests): the next setup() starts afresh."""
    global _tracer
    with _lock:
        if _tracer is None:
            return
        from opentelemetry.instrumentation.requests import RequestsInstrumentor
        RequestsInstrumentor().uninstrument()
        _provider.shutdown()
        _tracer = None


def page():
    """The span of one page run (a context manager): the root of the run's trace, or nothing when tracing is off."""
    tracer = setup()
    if tracer is None:
        return contextlib.nullcontext()
    from opentelemetry.trace import SpanKind
    return tracer.start_as_current_span("dashboard page", kind=SpanKind.SERVER)
