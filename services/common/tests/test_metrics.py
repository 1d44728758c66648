"""The shared HTTP metrics through a real FastAPI app: names from the prefix, route templates, statuses, timings."""
from __future__ import annotations

import pytest
from conftest import make_app, run_lifespan
from fastapi.testclient import TestClient
from prometheus_client import generate_latest

from graphmemory_common.metrics import LATENCY_BUCKETS, HttpMetrics, HttpMetricsMiddleware


def value(m: HttpMetrics, name: str, **labels) -> float:
    got = m.registry.get_sample_value(name, labels)
    return 0.0 if got is None else got


def test_requests_counted_by_route_template_method_and_status(client, metrics):
    assert client.get("/items/a1").status_code == 200
    assert client.get("/items/b2").status_code == 200
    assert client.get("/items/missing").status_code == 404
    assert value(metrics, "test_svc_http_requests_total", route="/items/{item_id}", method="GET", status="200") == 2
    assert value(metrics, "test_svc_http_requests_total", route="/items/{item_id}", method="GET", status="404") == 1
    assert value(metrics, "test_svc_http_request_duration_seconds_count", route="/items/{item_id}", method="GET") == 3


def test_unmatched_paths_and_exceptions(client, metrics):
    assert client.get("/nowhere/at/all").status_code == 404
    assert client.get("/items/boom").status_code == 500
    assert value(metrics, "test_svc_http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert value(metrics, "test_svc_http_requests_total", route="/items/{item_id}", method="GET", status="500") == 1


def test_an_exception_is_counted_as_500_and_re_raised(metrics):
    with TestClient(make_app(metrics)) as c, pytest.raises(RuntimeError, match="unhandled"):
        c.get("/items/boom")
    assert value(metrics, "test_svc_http_requests_total", route="/items/{item_id}", method="GET", status="500") == 1
    assert value(metrics, "test_svc_http_request_duration_seconds_count", route="/items/{item_id}", method="GET") == 1


def test_a_lifespan_scope_passes_through_uncounted(metrics):
    seen, sent = run_lifespan(lambda app: HttpMetricsMiddleware(app, metrics=metrics))
    assert seen == [({"type": "lifespan", "asgi": {"version": "3.0"}}, {"type": "lifespan.startup"})]
    assert sent == [{"type": "lifespan.startup.complete"}]
    assert "test_svc_http_requests_total{" not in generate_latest(metrics.registry).decode()


def test_timed_observes_also_when_the_block_raises(metrics):
    with metrics.timed("redis", "get"):
        pass
    with pytest.raises(ConnectionError):
        with metrics.timed("redis", "get"):
            raise ConnectionError("down")
    assert value(metrics, "test_svc_store_query_duration_seconds_count", store="redis", op="get") == 2


def test_names_help_and_buckets_are_the_services_own():
    a = HttpMetrics("svc_a", store_help="A's stores", store_buckets=(0.5, 1))
    b = HttpMetrics("svc_b", store_help="B's upstreams", store_buckets=(0.1,))
    a.requests.labels("/x", "GET", "200").inc()
    text = generate_latest(a.registry).decode()
    assert "# HELP svc_a_store_query_duration_seconds A's stores" in text
    assert "svc_b" not in text  # each service has its own registry: nothing leaks between them
    assert generate_latest(b.registry).decode().count('le="') == 0  # no observations yet, so no bucket lines
    b.store.labels("api", "/graph").observe(0.05)
    assert value(b, "svc_b_store_query_duration_seconds_bucket", store="api", op="/graph", le="0.1") == 1
    a.latency.labels("/x", "GET").observe(0.003)
    les = [f"{x:.1f}" if x >= 1 else str(x) for x in LATENCY_BUCKETS]
    assert [value(a, "svc_a_http_request_duration_seconds_bucket", route="/x", method="GET", le=le) for le in les] == [1.0] * 10


@pytest.mark.parametrize("prefix", ["", "gmi-api", "1gmi", None])
def test_a_bad_prefix_is_refused_naming_it(prefix):
    with pytest.raises(ValueError, match="is not a Prometheus metric name"):
        HttpMetrics(prefix, store_help="x", store_buckets=(1,))
