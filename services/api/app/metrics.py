"""The API's Prometheus metrics: the shared HTTP metrics under `gmi_`, store query latency, search cache lookups."""
from __future__ import annotations

from prometheus_client import Counter

from graphmemory_common.metrics import HttpMetrics

HTTP = HttpMetrics("gmi", store_help="Store query latency",
                   store_buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1))
REGISTRY = HTTP.registry
STORE = HTTP.store
CACHE = Counter("gmi_search_cache_total", "Search cache lookups", ["result"], registry=REGISTRY)
timed = HTTP.timed
