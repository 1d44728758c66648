"""The `spans` pytest fixture of the services' tracing tests: tracing switched on as a deployment does it
(OTEL_EXPORTER_OTLP_ENDPOINT set, never reached), every span of the apps made meanwhile kept in an in-memory exporter
instead of exported. A test module uses it with `from traced import spans`."""
from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from graphmemory_common import tracing


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    make_provider = tracing.provider
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")  # never reached: spans stay in memory
    monkeypatch.setattr(tracing, "provider", lambda name, _=None: make_provider(name, exporter))
    return exporter
