"""Analytics' Prometheus metrics: the shared HTTP metrics under `gmi_analytics_`, upstream API and Redis call
latency, summary computations and cache lookups."""
from __future__ import annotations

from prometheus_client import Counter, Histogram

from graphmemory_common.metrics import HttpMetrics

HTTP = HttpMetrics("gmi_analytics", store_help="Upstream API and Redis call latency",
                   store_buckets=(0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5))
REGISTRY = HTTP.registry
STORE = HTTP.store
COMPUTE = Histogram("gmi_analytics_compute_seconds", "Time to compute a summary", registry=REGISTRY)
CACHE = Counter("gmi_analytics_cache_total", "Summary cache lookups", ["result"], registry=REGISTRY)
timed = HTTP.timed
