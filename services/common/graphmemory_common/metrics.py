"""Prometheus HTTP metrics of a service: requests by route and status, request latency, store/upstream call latency.

Each service makes one `HttpMetrics` with its own metric prefix (`gmi` for the API, `gmi_analytics` for analytics)
and its store histogram's help and buckets, and adds its own metrics to `registry`. The names are part of the
contract with monitoring/ (rules, dashboards; the pipeline's lint reads the services' real /metrics).
Routes are the route templates (`/memories/{memory_id}`), or `unmatched`, so the series stay few.
`HttpMetricsMiddleware` is pure ASGI, not `@app.middleware("http")`: Starlette's BaseHTTPMiddleware cost
350-540 us per request, a pure ASGI layer nothing measurable (docs/monitoring.md, "Cost of /metrics and logging").
"""
from __future__ import annotations

import re
import time
from collections.abc import Sequence
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Histogram

#: request latency buckets, seconds
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
_PREFIX = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class HttpMetrics:
    """`<prefix>_http_requests_total{route,method,status}`, `<prefix>_http_request_duration_seconds{route,method}`
    and `<prefix>_store_query_duration_seconds{store,op}` in a registry of the service's own."""

    def __init__(self, prefix: str, *, store_help: str, store_buckets: Sequence[float]) -> None:
        if not _PREFIX.match(prefix or ""):
            raise ValueError(f"metric prefix {prefix!r} is not a Prometheus metric name (e.g. gmi_analytics)")
        self.registry = CollectorRegistry()
        self.requests = Counter(f"{prefix}_http_requests_total", "HTTP requests", ["route", "method", "status"],
                                registry=self.registry)
        self.latency = Histogram(f"{prefix}_http_request_duration_seconds", "HTTP request latency",
                                 ["route", "method"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.store = Histogram(f"{prefix}_store_query_duration_seconds", store_help, ["store", "op"],
                               buckets=tuple(store_buckets), registry=self.registry)

    @contextmanager
    def timed(self, store: str, op: str):
        """Observes the time the block takes (also when it raises) as a store/upstream call."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.store.labels(store, op).observe(time.perf_counter() - t0)


class HttpMetricsMiddleware:
    """Pure ASGI middleware (`app.add_middleware(HttpMetricsMiddleware, metrics=m)`): counts and times every HTTP
    request by route template, method and status; an exception before the response starts counts as 500."""

    def __init__(self, app, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500

        async def send_status(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            # the router sets scope["route"] in this same dict once a route matched
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.latency.labels(route, method).observe(time.perf_counter() - t0)
