"""JSON access lines of analytics: request id kept and returned, route template, status, duration (real Redis)."""
from __future__ import annotations

import json
import logging

from graphmemory_common import logs


def test_access_line_fields_and_request_id(make_client, caplog):
    caplog.set_level(logging.INFO, logger="gmi.access")
    c = make_client()
    r = c.get("/analytics/tags?top=3", headers={"X-Request-ID": "dash-7f3a"})
    assert r.status_code == 200 and r.headers["X-Request-ID"] == "dash-7f3a"
    fmt = logs.JsonFormatter()
    [line] = [json.loads(fmt.format(rec)) for rec in caplog.records if rec.name == "gmi.access"]
    assert {k: line[k] for k in ("request_id", "route", "method", "status", "level", "message")} == {
        "request_id": "dash-7f3a", "route": "/analytics/tags", "method": "GET", "status": 200, "level": "info", "message": "request"}
    assert line["duration_ms"] >= 0


def test_api_down_is_a_503_line_with_its_request_id(make_client, caplog):
    caplog.set_level(logging.INFO, logger="gmi.access")
    c = make_client(api_url="http://127.0.0.1:9")
    r = c.get("/analytics/summary")
    assert r.status_code == 503
    fmt = logs.JsonFormatter()
    [line] = [json.loads(fmt.format(rec)) for rec in caplog.records if rec.name == "gmi.access"]
    assert line["status"] == 503 and line["request_id"] == r.headers["X-Request-ID"]
