"""OpenTelemetry traces for the services, configured by the standard OTEL_* environment and off without an endpoint.

`setup(app, "api", instrument=("httpx", "redis", "asyncpg"))` in a service's create_app: when OTEL_EXPORTER_OTLP_ENDPOINT
(or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, spans go over OTLP/HTTP (protobuf) to it, batched; the FastAPI app gets a
server span per request (W3C trace context read from `traceparent`), and the named client libraries get client spans
that carry the context onwards (httpx injects `traceparent` into the calls to the graph service and the API). The
rest is the SDK's own environment: OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG (production:
parentbased_traceidratio, so a trace is kept or dropped whole, decided where it starts), OTEL_SERVICE_NAME (overrides
the name given here), OTEL_RESOURCE_ATTRIBUTES, OTEL_BSP_*. OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none turn it
off. Without an endpoint nothing is installed: the unit tests and a plain `docker run` stay quiet and pay nothing.
Probes and scrapes (/health, /ready, /metrics) get no spans; nor do the ASGI send/receive steps (one span a request).
The JSON log lines carry the current span's trace_id and span_id (logs.py), so a log line leads to its trace.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
EXCLUDED_URLS = "/health,/ready,/metrics"
LIBRARIES = ("httpx", "redis", "asyncpg", "requests")


def enabled(env: Mapping[str, str] = os.environ) -> bool:
    """True when the environment asks for traces: an OTLP endpoint set, the SDK and the traces exporter not off."""
    return (any(env.get(v) for v in ENDPOINT_VARS) and env.get("OTEL_SDK_DISABLED", "").lower() != "true"
            and env.get("OTEL_TRACES_EXPORTER", "otlp").lower() != "none")


def _instrumentor(library: str):
    """The instrumentor of one client library (a singleton per library, global to the process)."""
    if library == "httpx":
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        return HTTPXClientInstrumentor()
    if library == "redis":
        from opentelemetry.instrumentation.redis import RedisInstrumentor
        return RedisInstrumentor()
    if library == "asyncpg":
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
        return AsyncPGInstrumentor()
    if library == "requests":
        from opentelemetry.instrumentation.requests import RequestsInstrumentor
        return RequestsInstrumentor()
    raise ValueError(f"no instrumentation for {library!r}: the known libraries are {', '.join(LIBRARIES)}")


@dataclass
class Tracing:
    """What setup() installed: the provider (tracer(), force_flush) and the instrumented libraries (close())."""
    provider: object
    libraries: list[str] = field(default_factory=list)

    def tracer(self, name: str = "graphmemory"):
        return self.provider.get_tracer(name)

    def close(self) -> None:
        """Removes the client libraries' instrumentation and flushes and stops the provider (tests; shutdown)."""
        for library in self.libraries:
            _instrumentor(library).uninstrument()
        self.provider.shutdown()


def provider(service_name: str, exporter=None):
    """A TracerProvider named `service_name` (unless OTEL_SERVICE_NAME says otherwise) with the environment's sampler.
    Spans go to `exporter` one by one when given (tests), else batched to the OTLP/HTTP endpoint of the environment."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": service_name}
    tp = TracerProvider(resource=Resource.create(attributes))
    if exporter is not None:
        tp.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        tp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return tp


def setup(app, service_name: str, instrument: Iterable[str] = (), exporter=None) -> Tracing | None:
    """Traces `app` (a FastAPI app, or None for a service that serves no ASGI app) and the client libraries named in
    `instrument`; None (nothing installed) unless the environment enables tracing or an `exporter` is given (tests).
    Call it before the app serves its first request. The first provider set up in a process becomes the global one."""
    if exporter is None and not enabled():
        return None
    from opentelemetry import trace

    tp = provider(service_name, exporter)
    if exporter is None:
        trace.set_tracer_provider(tp)
    if app is not None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        FastAPIInstrumentor.instrument_app(app, tracer_provider=tp, excluded_urls=EXCLUDED_URLS,
                                           exclude_spans=["receive", "send"])
    done = Tracing(tp)
    for library in instrument:
        inst = _instrumentor(library)
        if not inst.is_instrumented_by_opentelemetry:
            inst.instrument(tracer_provider=tp)
            done.libraries.append(library)
    return done
