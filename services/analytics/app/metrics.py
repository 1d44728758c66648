"""Prometheus metrics: requests by route and status, request latency, upstream/cache latency, computations."""
from __future__ import annotations

import time
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry()
REQUESTS = Counter("gmi_analytics_http_requests_total", "HTTP requests", ["route", "method", "status"],
                   registry=REGISTRY)
LATENCY = Histogram("gmi_analytics_http_request_duration_seconds", "HTTP request latency", ["route", "method"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5), registry=REGISTRY)
STORE = Histogram("gmi_analytics_store_query_duration_seconds", "Upstream API and Redis call latency",
                  ["store", "op"], buckets=(0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5),
                  registry=REGISTRY)
COMPUTE = Histogram("gmi_analytics_compute_seconds", "Time to compute a summary", registry=REGISTRY)
CACHE = Counter("gmi_analytics_cache_total", "Summary cache lookups", ["result"], registry=REGISTRY)


@contextmanager
def timed(store: str, op: str):
    t0 = time.perf_counter()
    try:
        yield
    finally:
        STORE.labels(store, op).observe(time.perf_counter() - t0)


async def middleware(request, call_next):
    t0 = time.perf_counter()
    status = 500
    try:
        response = await call_next(request)
        status = response.status_code
        return response
    finally:
        path = getattr(request.scope.get("route"), "path", "unmatched")
        REQUESTS.labels(path, request.method, str(status)).inc()
        LATENCY.labels(path, request.method).observe(time.perf_counter() - t0)
