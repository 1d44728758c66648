from __future__ import annotations

import asyncio
import socket
import time

import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import BOTH_GRAPHS, KEY


def mem(client, auth, text, tags=(), project="demo"):
    r = client.post("/memories", json={"text": text, "tags": list(tags), "project": project}, headers=auth)
    assert r.status_code == 201, r.text
    return r.json()


@BOTH_GRAPHS
def test_health_and_ready(client):
    assert client.get("/health").json() == {"status": "ok"}
    r = client.get("/ready")
    assert r.status_code == 200, r.text
    assert r.json()["checks"] == {"kuzu": "ok", "postgres": "ok", "redis": "ok"}


@BOTH_GRAPHS
def test_write_requires_key(client, auth):
    r = client.post("/memories", json={"text": "x"})
    assert r.status_code == 401 and "X-API-Key" in r.json()["detail"]
    r = client.post("/memories", json={"text": "x"}, headers={"X-API-Key": "not-a-key"})
    assert r.status_code == 401 and "invalid" in r.json()["detail"]
    m = mem(client, auth, "hello graph", ["Python", "python", "kuzu"])
    assert m["tags"] == ["python", "kuzu"] and len(m["id"]) == 32 and m["project"] == "demo"
    assert client.get(f"/memories/{m['id']}").json()["text"] == "hello graph"


def test_malformed_memory_is_422_naming_the_field(client, auth):
    r = client.post("/memories", json={"tags": ["a"]}, headers=auth)
    assert r.status_code == 422
    assert ["body", "text"] in [e["loc"] for e in r.json()["detail"]]
    r = client.post("/memories", json={"text": "ok", "tags": "notalist"}, headers=auth)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "tags"]
    r = client.post("/memories", json={"text": "ok", "project": "bad project!"}, headers=auth)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "project"]
    r = client.post("/memories", json={"text": ""}, headers=auth)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "text"]


@BOTH_GRAPHS
def test_links_and_neighbors(client, auth):
    a, b, c, d = (mem(client, auth, f"node {n}") for n in "abcd")
    assert client.post(f"/memories/{a['id']}/links", json={"target_id": b["id"]}, headers=auth).status_code == 201
    assert client.post(f"/memories/{b['id']}/links", json={"target_id": c["id"], "kind": "uses"},
                       headers=auth).status_code == 201
    assert client.post(f"/memories/{a['id']}/links", json={"target_id": b["id"]}).status_code == 401
    r = client.post(f"/memories/{a['id']}/links", json={"target_id": "f" * 32}, headers=auth)
    assert r.status_code == 404 and "f" * 32 in r.json()["detail"]
    one = client.get(f"/memories/{a['id']}/neighbors").json()
    assert [n["id"] for n in one] == [b["id"]] and one[0]["distance"] == 1
    two = client.get(f"/memories/{a['id']}/neighbors", params={"depth": 2}).json()
    assert {(n["id"], n["distance"]) for n in two} == {(b["id"], 1), (c["id"], 2)}
    # links are traversed in both directions
    assert {n["id"] for n in client.get(f"/memories/{c['id']}/neighbors?depth=2").json()} == {a["id"], b["id"]}
    assert client.get(f"/memories/{d['id']}/neighbors").json() == []
    assert client.get(f"/memories/{a['id']}/neighbors?depth=9").status_code == 422
    assert client.get(f"/memories/{'e' * 32}/neighbors").status_code == 404
    g = client.get("/graph").json()
    assert len(g["nodes"]) == 4 and {(e["source"], e["target"]) for e in g["edges"]} == {(a["id"], b["id"]),
                                                                                       (b["id"], c["id"])}
    assert client.get("/status").json() | {} == {"service": "api", "version": "0.1.0", "memories": 4, "links": 2,
                                                 "projects": 1}


@BOTH_GRAPHS
def test_search_cached_in_redis_and_invalidated_by_writes(client, auth):
    mem(client, auth, "Kuzu stores the memory graph", ["storage"])
    mem(client, auth, "Redis caches searches", ["cache"], project="other")
    r1 = client.get("/search", params={"q": "kuzu"}).json()
    assert not r1["cached"] and [m["text"] for m in r1["results"]] == ["Kuzu stores the memory graph"]
    r2 = client.get("/search", params={"q": "KUZU"}).json()
    assert r2["cached"] and r2["results"] == r1["results"]
    assert [m["project"] for m in client.get("/search", params={"q": "cache"}).json()["results"]] == ["other"]
    assert client.get("/search", params={"q": "cache", "project": "demo"}).json()["results"] == []
    mem(client, auth, "another kuzu note")
    r3 = client.get("/search", params={"q": "kuzu"}).json()
    assert not r3["cached"] and len(r3["results"]) == 2
    assert client.get("/search").status_code == 422


@BOTH_GRAPHS
def test_recent_and_persistence(make_client, auth):
    c1 = make_client()
    ids = [mem(c1, auth, f"m{i}")["id"] for i in range(3)]
    assert [m["id"] for m in c1.get("/memories", params={"limit": 2}).json()] == ids[::-1][:2]
    c1.__exit__(None, None, None)
    c2 = make_client()  # same KUZU_DB_PATH: the data survives a restart
    assert c2.get("/status").json()["memories"] == 3


def test_keys_are_hashed_and_new_keys_work(client, auth, pg_url):
    r = client.post("/api-keys", json={"name": "ci"}, headers=auth)
    assert r.status_code == 201
    new = r.json()["key"]
    assert mem(client, {"X-API-Key": new}, "written with a minted key")

    async def stored():
        conn = await asyncpg.connect(pg_url)
        try:
            return [r["key_hash"] for r in await conn.fetch("SELECT key_hash FROM api_keys")]
        finally:
            await conn.close()

    hashes = asyncio.run(stored())
    assert new not in hashes and KEY not in hashes
    assert all(len(h) == 64 for h in hashes)


def scrape(client) -> dict[tuple[str, frozenset], float]:
    """Every sample of GET /metrics, keyed by name and labels."""
    r = client.get("/metrics")
    assert r.status_code == 200
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(r.text) for s in fam.samples}


def delta(before, after, name, **labels) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


def store_ops(before, after, store) -> float:
    """How many store queries of one store were timed between two scrapes (all ops)."""
    return sum(v - before.get(k, 0.0) for k, v in after.items()
               if k[0] == "gmi_store_query_duration_seconds_count" and ("store", store) in k[1])


@BOTH_GRAPHS
def test_metrics(client, auth):
    # The registry is process-wide: earlier tests' series are already there, so only the change caused by this test's
    # own requests counts.
    before = scrape(client)
    mem(client, auth, "metered")
    assert client.get("/search", params={"q": "metered"}).status_code == 200
    assert client.get("/search", params={"q": "metered"}).json()["cached"]
    assert client.post("/memories", json={"text": "x"}).status_code == 401
    after = scrape(client)
    assert delta(before, after, "gmi_http_requests_total", method="POST", route="/memories", status="201") == 1
    assert delta(before, after, "gmi_http_requests_total", method="POST", route="/memories", status="401") == 1
    assert delta(before, after, "gmi_http_requests_total", method="GET", route="/search", status="200") == 2
    assert delta(before, after, "gmi_http_request_duration_seconds_count", method="GET", route="/search") == 2
    assert delta(before, after, "gmi_http_request_duration_seconds_bucket", method="GET", route="/search",
                 le="+Inf") == 2
    assert delta(before, after, "gmi_store_query_duration_seconds_count", op="create_memory", store="kuzu") == 1
    assert delta(before, after, "gmi_search_cache_total", result="miss") == 1
    assert delta(before, after, "gmi_search_cache_total", result="hit") == 1
    assert store_ops(before, after, "postgres") >= 1  # the key check of the write
    assert store_ops(before, after, "redis") >= 3  # invalidate on write, get + set on the miss, get on the hit
    # the first scrape itself is counted by the time of the second
    assert delta(before, after, "gmi_http_requests_total", method="GET", route="/metrics", status="200") == 1


def test_postgres_down_ready_503_health_200(make_client, auth):
    from backing import free_port
    c = make_client(database_url=f"postgresql://gmi:x@127.0.0.1:{free_port()}/gmi")
    assert c.get("/health").status_code == 200
    r = c.get("/ready")
    assert r.status_code == 503 and r.json()["failing"] == ["postgres"]
    r = c.post("/memories", json={"text": "x"}, headers=auth)
    assert r.status_code == 503 and "postgres" in r.json()["detail"]
    assert c.get("/memories").status_code == 200  # reads do not need Postgres


def test_redis_down_ready_503_search_still_answers(make_client, auth):
    from backing import free_port
    c = make_client(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    mem(c, auth, "still searchable")
    r = c.get("/ready")
    assert r.status_code == 503 and r.json()["failing"] == ["redis"]
    s = c.get("/search", params={"q": "searchable"}).json()
    assert not s["cached"] and len(s["results"]) == 1


def test_redis_stopped_under_a_running_service_degrades_as_documented(make_client, auth):
    """Redis goes away while the API runs and holds pooled connections to it: /ready 503 naming redis, /health 200,
    searches still answer from Kuzu (counted as cache errors), writes still succeed; Redis back: ready again and the
    cache works. (Its own redis-server, stopped; with TEST_REDIS_URL a relay in front of it, cut.)"""
    from backing import stoppable_redis

    with stoppable_redis() as redis:
        c = make_client(redis_url=redis.url)
        mem(c, auth, "cached before the outage", ["outage"])
        assert not c.get("/search", params={"q": "outage"}).json()["cached"]
        assert c.get("/search", params={"q": "outage"}).json()["cached"]  # the pool holds a live connection now
        assert c.get("/ready").status_code == 200

        redis.stop()
        with pytest.raises(ConnectionRefusedError):  # gone: its port refuses connections
            socket.create_connection(("127.0.0.1", redis.port), timeout=1)
        before = scrape(c)
        t0 = time.monotonic()  # first use after the outage: the pooled connection is dead, not merely refused
        s = c.get("/search", params={"q": "outage"})
        assert s.status_code == 200, s.text
        assert not s.json()["cached"] and [m["text"] for m in s.json()["results"]] == ["cached before the outage"]
        assert time.monotonic() - t0 < 20  # bounded by DEPENDENCY_TIMEOUT_SECONDS, not hanging on a dead socket (minutes); margin for a loaded machine
        r = c.get("/ready")
        assert r.status_code == 503 and r.json()["failing"] == ["redis"], r.text
        assert r.json()["checks"]["kuzu"] == "ok" and r.json()["checks"]["postgres"] == "ok"
        assert c.get("/health").status_code == 200
        mem(c, auth, "written during the outage", ["outage"])
        s = c.get("/search", params={"q": "outage"}).json()
        assert not s["cached"] and len(s["results"]) == 2  # answered by Kuzu, so it includes the new write
        after = scrape(c)
        assert delta(before, after, "gmi_search_cache_total", result="error") == 2
        assert delta(before, after, "gmi_search_cache_total", result="hit") == 0

        redis.start()
        assert c.get("/ready").status_code == 200
        mem(c, auth, "written after the outage", ["outage"])  # bumps the generation: no answer from before is used
        s = c.get("/search", params={"q": "outage"}).json()
        assert not s["cached"] and len(s["results"]) == 3
        assert c.get("/search", params={"q": "outage"}).json()["cached"]
