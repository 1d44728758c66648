"""JSON log lines and request ids.

Every log line is one JSON object: time (UTC, ms), level, logger, message, and for lines written while a request is
served its request_id and, when tracing is on (tracing.py), the trace_id and span_id of the span it was written in
(and trace_sampled: whether that trace is kept, so whether Jaeger will find it); the access line of each request adds
route (the route template, not the raw path), method, status and duration_ms. A client's `X-Request-ID` (1-64 of
[A-Za-z0-9._-]) is kept, any other gets a new id; the response carries it back. The log collector parses these lines
into attributes (monitoring/logging/).
Shared by the API and analytics; nothing here names a service.
`RequestLogMiddleware` is pure ASGI, not `@app.middleware("http")`: Starlette's BaseHTTPMiddleware cost 350-540 us
per request, a pure ASGI layer nothing measurable (docs/monitoring.md, "Cost of /metrics and logging").
"""
from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import uuid
from datetime import datetime, timezone

from opentelemetry import trace
from starlette.datastructures import Headers, MutableHeaders

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
ACCESS = logging.getLogger("gmi.access")
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_REQUEST_FIELDS = ("route", "method", "status", "duration_ms")
# probes and scrapes: logged at debug, so the access log holds user traffic
QUIET_ROUTES = frozenset({"/health", "/ready", "/metrics"})


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, request_id, trace ids, the access fields, error."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id:
            line["request_id"] = request_id
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            line["trace_id"] = format(span.trace_id, "032x")
            line["span_id"] = format(span.span_id, "016x")
            line["trace_sampled"] = span.trace_flags.sampled
        for field in _REQUEST_FIELDS:
            if hasattr(record, field):
                line[field] = getattr(record, field)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(level: str = "info", stream=None) -> None:
    """JSON lines on stdout for every logger, uvicorn's included (run uvicorn with log_config=None)."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # one line per request is the service's own access line: the HTTP client's INFO line for every outgoing call
    # (the API calls the graph service on most requests) would double the volume and carry the same request id
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


def request_id_of(value: str | None) -> str:
    """The client's id when it is a safe token, else a new one."""
    return value if value and _VALID_ID.match(value) else uuid.uuid4().hex


class RequestLogMiddleware:
    """Pure ASGI middleware (`app.add_middleware(RequestLogMiddleware)`, added last so it is outermost): sets the
    request id for every line logged while serving, returns it as `X-Request-ID`, and logs one access line."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(Headers(scope=scope).get("x-request-id"))
        token = REQUEST_ID.set(request_id)
        t0 = time.perf_counter()
        status = 500

        async def send_with_id(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            ACCESS.log(logging.DEBUG if route in QUIET_ROUTES else logging.INFO, "request", extra={
                "request_id": request_id, "route": route, "method": scope["method"], "status": status,
                "duration_ms": round((time.perf_counter() - t0) * 1000, 2)})
            REQUEST_ID.reset(token)
