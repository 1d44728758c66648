"""JSON log lines: every field parsed from a real request through the app (real Postgres, Redis, Kuzu)."""
from __future__ import annotations

import io
import json
import logging

from graphmemory_common import logs


def _lines(caplog, logger="gmi.access"):
    fmt = logs.JsonFormatter()
    return [json.loads(fmt.format(r)) for r in caplog.records if r.name == logger]


def test_access_line_has_request_id_route_status_duration(client, caplog):
    caplog.set_level(logging.INFO, logger="gmi.access")
    r = client.get("/memories/0123456789abcdef0123456789abcdef", headers={"X-Request-ID": "smoke-req-42"})
    assert r.status_code == 404
    assert r.headers["X-Request-ID"] == "smoke-req-42"
    [line] = _lines(caplog)
    assert line["request_id"] == "smoke-req-42"
    assert line["route"] == "/memories/{memory_id}"  # the template: ids do not explode the log's cardinality
    assert line["method"] == "GET" and line["status"] == 404
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["level"] == "info" and line["message"] == "request" and line["time"].endswith("Z")


def test_unsafe_or_missing_request_id_gets_a_fresh_one(client, caplog):
    caplog.set_level(logging.INFO, logger="gmi.access")
    a = client.get("/status", headers={"X-Request-ID": "bad id\nwith newline"}).headers["X-Request-ID"]
    b = client.get("/status").headers["X-Request-ID"]
    assert len(a) == 32 and len(b) == 32 and a != b
    assert [line["request_id"] for line in _lines(caplog)] == [a, b]


def test_probes_and_scrapes_stay_out_of_the_info_log(client, caplog):
    caplog.set_level(logging.INFO, logger="gmi.access")
    client.get("/health")
    client.get("/metrics")
    assert _lines(caplog) == []


def test_lines_logged_while_serving_carry_the_request_id():
    stream = io.StringIO()
    logs.configure("info", stream)
    try:
        token = logs.REQUEST_ID.set("abc-1")
        logging.getLogger("gmi.api").warning("postgres slow: %s", "2.1s")
        logs.REQUEST_ID.reset(token)
        logging.getLogger("gmi.api").error("outside a request")
    finally:
        logging.getLogger().handlers[:] = []
    first, second = (json.loads(l) for l in stream.getvalue().splitlines())
    assert first == {"time": first["time"], "level": "warning", "logger": "gmi.api", "message": "postgres slow: 2.1s", "request_id": "abc-1"}
    assert "request_id" not in second and second["level"] == "error"
