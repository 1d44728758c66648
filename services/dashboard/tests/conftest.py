from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent.parent / "testsupport"))
from ambient import no_ambient_tracing  # noqa: E402,F401 - autouse: Dagger's own OTEL_*/TRACEPARENT stay out of the tests


class Upstream:
    """A real HTTP server answering fixed JSON per path: stands in for the API and analytics services.
    The compose smoke test checks the dashboard against the real ones."""

    def __init__(self, routes: dict[str, object]):
        self.routes = routes
        self.headers: list[dict[str, str]] = []  # each request's headers, in order (the tracing test reads them)
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.headers.append({k.lower(): v for k, v in self.headers.items()})
                path = self.path.split("?")[0]
                if path not in outer.routes:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = json.dumps(outer.routes[path]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


MEMS = [{"id": "a" * 32, "text": "Kuzu holds the graph", "tags": ["kuzu", "storage"], "project": "demo",
         "created_at": "2026-11-26T22:00:00Z"},
        {"id": "b" * 32, "text": "Redis caches search", "tags": ["redis"], "project": "demo",
         "created_at": "2026-11-26T21:00:00Z"}]
SUMMARY = {"nodes": 2, "edges": 1, "degree_centrality": [{"id": "a" * 32, "centrality": 1.0},
                                                         {"id": "b" * 32, "centrality": 1.0}],
           "components": {"count": 1, "sizes": [2], "largest": ["a" * 32, "b" * 32]},
           "top_tags": [{"tag": "kuzu", "count": 1}, {"tag": "redis", "count": 1}], "projects": {"demo": 2},
           "cached": False}


@pytest.fixture
def api():
    u = Upstream({"/status": {"memories": 2, "links": 1, "projects": 1}, "/memories": MEMS})
    yield u
    u.server.shutdown()


@pytest.fixture
def analytics():
    u = Upstream({"/analytics/summary": SUMMARY})
    yield u
    u.server.shutdown()
