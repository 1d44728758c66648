"""A pytest fixture every service's conftest imports: the tests choose their own tracing configuration.

Dagger sets OTEL_EXPORTER_OTLP_* and TRACEPARENT in every container it runs (so that programs there report into its
own trace), and a developer's shell may set them too; a test that expects tracing off, or a trace of its own making,
must not inherit either."""
from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def no_ambient_tracing(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OTEL_") or name in ("TRACEPARENT", "TRACESTATE"):
            monkeypatch.delenv(name)
