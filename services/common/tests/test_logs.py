"""The shared JSON log lines through a real FastAPI app: request ids, access fields, quiet probes, formatting."""
from __future__ import annotations

import io
import json
import logging

import pytest
from conftest import make_app, run_lifespan
from fastapi.testclient import TestClient

from graphmemory_common import logs


def access_lines(caplog):
    fmt = logs.JsonFormatter()
    return [json.loads(fmt.format(r)) for r in caplog.records if r.name == "gmi.access"]


def test_access_line_carries_the_clients_request_id_and_route_template(client, caplog):
    caplog.set_level(logging.INFO, logger="gmi.access")
    r = client.get("/items/x9", headers={"X-Request-ID": "req.42_A-b"})
    assert r.headers["X-Request-ID"] == "req.42_A-b"
    assert r.json()["request_id"] == "req.42_A-b"  # set while the route runs
    assert logs.REQUEST_ID.get() is None  # and reset after
    [line] = access_lines(caplog)
    assert {k: line[k] for k in ("request_id", "route", "method", "status", "level", "message", "logger")} == {
        "request_id": "req.42_A-b", "route": "/items/{item_id}", "method": "GET", "status": 200,
        "level": "info", "message": "request", "logger": "gmi.access"}
    assert isinstance(line["duration_ms"], float) and line["time"].endswith("Z")


def test_an_unsafe_client_id_is_replaced_in_the_response_and_the_line(client, caplog):
    caplog.set_level(logging.INFO, logger="gmi.access")
    r = client.get("/items/x9", headers={"X-Request-ID": "a b"})
    [line] = access_lines(caplog)
    assert r.headers["X-Request-ID"] == line["request_id"] == r.json()["request_id"] != "a b"
    assert r.headers.get_list("x-request-id") == [line["request_id"]]  # one header, not appended twice


def test_an_unhandled_error_is_a_500_line(client, caplog):
    caplog.set_level(logging.INFO, logger="gmi.access")
    assert client.get("/items/boom", headers={"X-Request-ID": "boom-1"}).status_code == 500
    assert [(line["status"], line["route"], line["request_id"]) for line in access_lines(caplog)] == [
        (500, "/items/{item_id}", "boom-1")]
    assert logs.REQUEST_ID.get() is None


def test_the_exception_reaches_the_server_after_the_line(metrics, caplog):
    caplog.set_level(logging.INFO, logger="gmi.access")
    with TestClient(make_app(metrics)) as c, pytest.raises(RuntimeError, match="unhandled"):
        c.get("/items/boom")
    assert [line["status"] for line in access_lines(caplog)] == [500]


def test_a_lifespan_scope_passes_through_without_a_line(caplog):
    caplog.set_level(logging.DEBUG, logger="gmi.access")
    seen, sent = run_lifespan(logs.RequestLogMiddleware)
    assert seen == [({"type": "lifespan", "asgi": {"version": "3.0"}}, {"type": "lifespan.startup"})]
    assert sent == [{"type": "lifespan.startup.complete"}] and access_lines(caplog) == []


def test_probes_are_logged_at_debug_only(client, caplog):
    caplog.set_level(logging.INFO, logger="gmi.access")
    client.get("/health")
    assert access_lines(caplog) == []
    caplog.set_level(logging.DEBUG, logger="gmi.access")
    client.get("/health")
    assert [line["level"] for line in access_lines(caplog)] == ["debug"]


@pytest.mark.parametrize("given", [None, "", "a b", "x" * 65, "id\nforged", "ünïcode"])
def test_unsafe_ids_are_replaced(given):
    got = logs.request_id_of(given)
    assert got != given and len(got) == 32 and got.isalnum()


def test_configure_writes_json_with_errors_and_the_current_request_id():
    stream = io.StringIO()
    logs.configure("warning", stream)
    try:
        logging.getLogger("gmi.test").info("below the level")
        token = logs.REQUEST_ID.set("rid-1")
        try:
            raise KeyError("k")
        except KeyError:
            logging.getLogger("gmi.test").exception("failed: %s", "lookup")
        logs.REQUEST_ID.reset(token)
    finally:
        logging.getLogger().handlers[:] = []
    [line] = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert line["message"] == "failed: lookup" and line["request_id"] == "rid-1" and line["level"] == "error"
    assert "KeyError" in line["error"]


def test_configure_keeps_http_client_calls_out_of_the_info_lines():
    out = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("httpx").level)
    try:
        logs.configure("info", stream=out)
        logging.getLogger("httpx").info('HTTP Request: POST http://graph:8001/ops/get_memory "HTTP/1.1 200 OK"')
        logging.getLogger("httpx").warning("retrying the graph")
        logging.getLogger("gmi.api").info("kept")
        messages = [json.loads(line)["message"] for line in out.getvalue().splitlines()]
        assert messages == ["retrying the graph", "kept"]
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("httpx").setLevel(saved[2])
