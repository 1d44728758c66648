import os
import subprocess
import sys
from pathlib import Path

from backing import free_port


def test_health_ready_metrics(make_client):
    c = make_client()
    assert c.get("/health").json() == {"status": "ok"}
    r = c.get("/ready")
    assert r.status_code == 200 and r.json()["checks"] == {"api": "ok", "redis": "ok"}
    c.get("/analytics/summary")
    m = c.get("/metrics").text
    assert 'gmi_analytics_http_requests_total{method="GET",route="/analytics/summary",status="200"}' in m
    assert 'gmi_analytics_store_query_duration_seconds_count{op="/graph",store="api"}' in m


def test_summary_reflects_graph_and_is_cached_in_redis(make_client, api):
    c = make_client()
    for i, tags in (("a", ["py"]), ("b", ["py", "kuzu"]), ("c", [])):
        api.add(i, tags)
    api.link("a", "b")
    s = c.get("/analytics/summary").json()
    assert not s["cached"] and s["nodes"] == 3 and s["components"]["sizes"] == [2, 1]
    assert s["top_tags"][0] == {"tag": "py", "count": 2}
    assert c.get("/analytics/summary").json()["cached"] is True
    assert api.graph_calls == 1
    # a second process (a fresh app) shares the cache through Redis
    assert make_client().get("/analytics/summary").json()["cached"] is True
    api.link("b", "c")  # a write changes the API's counts: the next read recomputes
    s = c.get("/analytics/summary").json()
    assert not s["cached"] and s["components"]["count"] == 1 and api.graph_calls == 2
    assert c.get("/analytics/summary?refresh=true").json()["cached"] is False
    assert c.get("/analytics/components").json()["count"] == 1
    cent = c.get("/analytics/centrality?top=1").json()["degree_centrality"]
    assert cent == [{"id": "b", "centrality": 1.0}]
    assert c.get("/analytics/tags?top=1").json()["top_tags"] == [{"tag": "py", "count": 2}]
    assert c.get("/analytics/tags?top=0").status_code == 422


def test_api_down(make_client):
    c = make_client(api_url=f"http://127.0.0.1:{free_port()}")
    assert c.get("/health").status_code == 200
    r = c.get("/ready")
    assert r.status_code == 503 and r.json()["failing"] == ["api"]
    r = c.get("/analytics/summary")
    assert r.status_code == 503 and r.json()["detail"].startswith("api unavailable")


def test_redis_down_still_computes(make_client, api):
    api.add("a")
    c = make_client(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    assert c.get("/ready").json()["failing"] == ["redis"]
    assert c.get("/analytics/summary").json()["nodes"] == 1


def test_bad_setting_stops_start_with_one_line():
    service = Path(__file__).parent.parent
    # graphmemory_common is beside `app` in the image; here it is services/common
    env = {"PATH": os.environ["PATH"], "API_URL": "ftp://nope", "PYTHONPATH": str(service.parent / "common")}
    r = subprocess.run([sys.executable, "-m", "app"], cwd=service, env=env,
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2
    assert r.stderr.strip() == "gmi-analytics: invalid configuration: API_URL must start with http:// or https://"
