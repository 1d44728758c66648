from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent.parent / "testsupport"))
from ambient import no_ambient_tracing  # noqa: E402,F401 - autouse: Dagger's own OTEL_*/TRACEPARENT stay out of the tests
sys.path.insert(0, str(HERE.parent.parent / "common"))  # graphmemory_common: metrics and logs shared with the other service

import backing  # noqa: E402

from app.main import create_app  # noqa: E402
from app.settings import Settings  # noqa: E402


class StandInApi:
    """A real HTTP server speaking the API's read contract (/health, /status, /graph) over a graph the test edits.
    The compose smoke test runs analytics against the real API."""

    def __init__(self):
        self.graph = {"nodes": [], "edges": []}
        self.graph_calls = 0
        self.traceparents: list[str | None] = []  # each request's W3C trace context header (the tracing test)
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.traceparents.append(self.headers.get("traceparent"))
                g = outer.graph
                if self.path == "/health":
                    body = {"status": "ok"}
                elif self.path == "/status":
                    body = {"memories": len(g["nodes"]), "links": len(g["edges"]), "projects": 1}
                elif self.path == "/graph":
                    outer.graph_calls += 1
                    body = g
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, nid, tags=(), project="demo"):
        self.graph["nodes"].append({"id": nid, "tags": list(tags), "project": project})

    def link(self, s, t):
        self.graph["edges"].append({"source": s, "target": t, "kind": "related"})


@pytest.fixture(scope="session")
def redis_url():
    with backing.redis() as url:
        yield url


@pytest.fixture
def api():
    a = StandInApi()
    yield a
    a.server.shutdown()


@pytest.fixture
def make_client(redis_url, api):
    import redis as _redis

    _redis.Redis.from_url(redis_url).flushdb()  # tests share one Redis: start each clean
    clients = []

    def make(**overrides):
        # the service default timeout (3 s): 1 s made a cache read under a loaded CI machine miss and the test flake
        env = dict(api_url=api.url, redis_url=redis_url) | overrides
        c = TestClient(create_app(Settings(**env)))
        c.__enter__()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)
