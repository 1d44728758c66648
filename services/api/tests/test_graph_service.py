"""The split the Kubernetes layout runs: the graph service (`python -m app graph`, the single Kuzu writer) and API
processes that reach it at GRAPH_URL. A graph restart while the API serves delays requests instead of failing them;
a graph that stays away fails them with 503 after the retry budget; a second graph process waits for the first's
lock (a Recreate rollout's handover); SIGTERM is a graceful stop."""
from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from fastapi.testclient import TestClient

from app.graph import Graph
from app.graph_client import GraphUnavailable, RemoteGraph
from app.main import create_app
from app.settings import Settings
from backing import free_port
from conftest import KEY
from graphproc import SERVICE, ApiProcess, GraphProcess, service_env

AUTH = {"X-API-Key": KEY}


@pytest.fixture
def graph(tmp_path):
    g = GraphProcess(tmp_path / "graph").start()
    yield g
    g.stop()


def api_for(url: str, pg_url: str, redis_url: str, **extra) -> TestClient:
    settings = Settings(graph_url=url, database_url=pg_url, redis_url=redis_url, bootstrap_api_key=KEY,
                        dependency_timeout_seconds=1.0, **extra)
    return TestClient(create_app(settings))


def post_json(url: str, body: dict) -> tuple[int, dict]:
    import json
    req = urllib.request.Request(url, json.dumps(body).encode(), {"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_graph_service_serves_only_the_graph_operations(graph):
    assert post_json(f"{graph.url}/ops/ping", {}) == (200, {"result": None})
    st, body = post_json(f"{graph.url}/ops/create_memory", {"text": "t", "tags": ["a"], "project": "p", "mid": "a" * 32})
    assert st == 200 and body["result"]["id"] == "a" * 32 and body["result"]["created_at"].endswith("+00:00")
    st, body = post_json(f"{graph.url}/ops/close", {})
    assert st == 404 and "unknown graph operation 'close'" in body["detail"]
    st, body = post_json(f"{graph.url}/ops/recent", {"limit": 1, "project": None, "nope": 2})
    assert st == 422 and "recent" in body["detail"] and "nope" in body["detail"]
    with urllib.request.urlopen(f"{graph.url}/metrics", timeout=5) as r:
        assert 'store="kuzu"' in r.read().decode()


def test_create_is_idempotent_by_id(tmp_path):
    """A retried create (the first attempt's answer lost) returns the memory the first attempt made."""
    g = Graph(tmp_path / "k")
    try:
        first = asyncio.run(g.create_memory("once", ["x"], "p", mid="b" * 32))
        again = asyncio.run(g.create_memory("once", ["x"], "p", mid="b" * 32))
        assert again == first and asyncio.run(g.counts())["memories"] == 1
    finally:
        g.close()


def wait_for(condition, seconds: float) -> None:
    """Polls `condition` every 50 ms until it holds; fails after `seconds`."""
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, f"not met within {seconds} s"
        time.sleep(0.05)


def test_graph_restart_under_requests_fails_none(graph, pg_url, redis_url, tmp_path):
    """Reads and writes sent steadily to an API process while the graph process is stopped (SIGTERM) and started
    again 1.5 s later on the same database: every one answers 2xx, the ones in the gap later (the API's retries, which
    it logs), and each write is stored exactly once."""
    import httpx

    api = ApiProcess(graph.url, pg_url, redis_url, tmp_path / "api.log", GRAPH_RETRY_SECONDS="30").start()
    auth = {"X-API-Key": "x" * 20}
    try:
        with httpx.Client(base_url=api.url, timeout=60) as http:
            assert http.post("/memories", json={"text": "before the restart"}, headers=auth).status_code == 201
            results: list[tuple[int, float]] = []
            stop = threading.Event()

            def traffic():
                i = 0
                while not stop.is_set():
                    t0 = time.monotonic()
                    if i % 5 == 4:
                        r = http.post("/memories", json={"text": f"during {i}"}, headers=auth)
                    else:
                        r = http.get("/memories", params={"limit": 3})
                    results.append((r.status_code, time.monotonic() - t0))
                    i += 1
                    time.sleep(0.02)

            worker = threading.Thread(target=traffic)
            worker.start()
            try:
                # traffic before, during and after the gap counted in requests, not seconds: on a loaded machine
                # half a second held fewer than the 10 requests asserted below
                wait_for(lambda: len(results) >= 8, 30)
                assert graph.stop() in (0, -signal.SIGTERM)  # uvicorn re-raises the SIGTERM it handled
                time.sleep(1.5)
                graph.start()
                after = len(results)
                wait_for(lambda: len(results) >= after + 5, 30)
            finally:
                stop.set()
                worker.join(60)
            statuses = [s for s, _ in results]
            assert len(statuses) > 10 and all(s in (200, 201) for s in statuses), statuses
            assert max(d for _, d in results) >= 1.0  # some request really waited out the gap
            writes = sum(1 for s in statuses if s == 201)
            assert http.get("/status").json()["memories"] == 1 + writes  # each write exactly once
        assert "answered after" in (tmp_path / "api.log").read_text()  # ... by retrying
    finally:
        api.stop()


def test_graph_away_longer_than_the_budget_is_503_naming_it(tmp_path, pg_url, redis_url):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with api_for(url, pg_url, redis_url, graph_retry_seconds=0.5) as api:
        t0 = time.monotonic()
        r = api.get("/memories")
        assert r.status_code == 503 and r.json()["detail"].startswith("graph store unavailable: graph service at")
        assert "ConnectError" in r.json()["detail"]
        assert time.monotonic() - t0 < 5
        ready = api.get("/ready")
        assert ready.status_code == 503 and ready.json()["failing"] == ["kuzu"]
        assert api.get("/health").status_code == 200


def test_a_link_cut_after_sending_is_not_retried(tmp_path):
    """A write that may have reached the graph (the connection broke after sending) is not sent again: a server that
    accepts the request and closes without answering gets exactly one link attempt."""
    import socket

    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    seen = []

    def serve():
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            seen.append(c.recv(65536))
            c.close()

    threading.Thread(target=serve, daemon=True).start()
    g = RemoteGraph(f"http://127.0.0.1:{ls.getsockname()[1]}", timeout=2, retry_seconds=2)

    async def go():
        try:
            with pytest.raises(GraphUnavailable, match="link interrupted.*not retried"):
                await g.link("a" * 32, "b" * 32, "related")
            n = len(seen)
            with pytest.raises(GraphUnavailable, match="unreachable for 2s"):
                await g.get_memory("a" * 32)  # a read is retried until the budget is spent
            return n
        finally:
            await g.close()

    assert asyncio.run(go()) == 1 and len(seen) > 2
    ls.close()


def test_second_graph_process_waits_for_the_first_to_release_the_database(tmp_path):
    """The Recreate rollout's handover: a new graph process started while the old one still holds the database does
    not fail; it opens it once the old one has stopped."""
    first = GraphProcess(tmp_path / "g").start()
    second = GraphProcess(tmp_path / "g", lock_wait=60).start(wait=False)
    try:
        time.sleep(2)
        assert second.proc.poll() is None and not second.ready()  # waiting, not crashed
        assert first.stop() in (0, -signal.SIGTERM)  # graceful: uvicorn re-raises the SIGTERM it handled
        assert second.wait_ready(30) < 30
    finally:
        first.stop()
        second.stop()


def test_graph_service_start_refuses_bad_settings_with_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = subprocess.run([sys.executable, "-m", "app", "graph"], cwd=SERVICE, capture_output=True, text=True,
                       env=service_env({"KUZU_DB_PATH": str(blocker / "kuzu")}), timeout=30)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"gmi-graph: invalid configuration: KUZU_DB_PATH cannot create directory {blocker / 'kuzu'}: Not a directory"]
    r = subprocess.run([sys.executable, "-m", "app", "grpah"], cwd=SERVICE, capture_output=True, text=True,
                       env=service_env({}), timeout=30)
    assert r.returncode == 2 and r.stderr.strip() == "gmi-api: unknown arguments grpah: usage: python -m app [graph | backup <command>]"


def test_api_settings_need_a_graph(tmp_path):
    r = subprocess.run([sys.executable, "-m", "app"], cwd=SERVICE, capture_output=True, text=True, timeout=30,
                       env=service_env({"DATABASE_URL": "postgresql://u:p@127.0.0.1:1/db"}))
    assert r.returncode == 2
    assert r.stderr.strip() == ("gmi-api: invalid configuration: KUZU_DB_PATH is required but not set "
                                "(or GRAPH_URL, the graph service's address)")
    r = subprocess.run([sys.executable, "-m", "app"], cwd=SERVICE, capture_output=True, text=True, timeout=30,
                       env=service_env({"DATABASE_URL": "postgresql://u:p@127.0.0.1:1/db", "GRAPH_URL": "graph:8001"}))
    assert r.returncode == 2 and "GRAPH_URL must start with http:// or https://" in r.stderr
    # with GRAPH_URL the API needs no writable KUZU_DB_PATH (the image's default points at a folder it may not write)
    s = Settings(graph_url="http://graph:8001", kuzu_db_path=tmp_path / "file" / "no", database_url="postgresql://x")
    assert s.graph_url == "http://graph:8001"


def test_api_process_stops_gracefully_on_sigterm(graph, pg_url, redis_url):
    """`python -m app` with GRAPH_URL: serves; on SIGTERM runs its shutdown (uvicorn's graceful stop: the app's
    lifespan ends, which logs) and exits by the signal it handled."""
    port = free_port()
    env = service_env({"GRAPH_URL": graph.url, "DATABASE_URL": pg_url, "REDIS_URL": redis_url, "PORT": str(port),
                       "HOST": "127.0.0.1", "BOOTSTRAP_API_KEY": "x" * 20, "KUZU_DB_PATH": "/nonexistent/kuzu"})
    p = subprocess.Popen([sys.executable, "-m", "app"], cwd=SERVICE, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        t0 = time.monotonic()
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert p.poll() is None, p.stdout.read().decode()
                assert time.monotonic() - t0 < 60, "not ready after 60 s (a hang guard)"
                time.sleep(0.1)
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(30)
    out = p.stdout.read().decode()
    assert rc in (0, -signal.SIGTERM), out
    assert "Waiting for application shutdown" in out and "Application shutdown complete" in out, out
