#!/usr/bin/env python3
"""Tracing smoke test: one dashboard page load is one trace in Jaeger, across all services and their stores.

Brings docker/production/docker-compose.prod.yml up under a throw-away project with tracing on
(OTEL_EXPORTER_OTLP_ENDPOINT=http://otel-collector:4318, every trace kept: OTEL_TRACES_SAMPLER_ARG=1, where production
keeps one in ten) and the `monitoring` profile's collector, log store and Jaeger v2, writes a few memories through the
API, opens the dashboard in headless Chromium once, and asks Jaeger's query API (api/traces?service=dashboard) for
what that page run left. Checks: exactly one new trace rooted at the dashboard's `dashboard page` span; spans of the
dashboard, the API, the graph service and analytics in it; analytics' Redis call in it; every span's parent in the
same trace (nothing detached); the API's JSON access line of that run names the trace (trace_id), and VictoriaLogs
finds that run's lines by it (the collector ships them with trace_id a field). And a keyed write's
trace holds the API's Postgres call (the key check: no dashboard read touches Postgres) and its Redis call. Prints
one line per check and `N passed, N failed`; exit 0 only if all passed.

Images from the environment like the compose file (API_IMAGE, ANALYTICS_IMAGE, DASHBOARD_IMAGE, POSTGRES_IMAGE,
REDIS_IMAGE, OTELCOL_IMAGE, VICTORIALOGS_IMAGE, JAEGER_IMAGE); with the lab's env loaded the LAB_IMAGE_* variables fill
in the last three. Needs docker compose, chromium and `websockets` (services/smoke/requirements.txt).
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
import time
import urllib.parse
from pathlib import Path

from browser import Page
from compose_smoke import SERVICES, Abort, Checks, Stack, compose_cmd, COMPOSE_FILE, free_port, http, wait_for, report_abort
from monitoring_smoke import logsql

TRACED = ("dashboard", "api", "graph", "analytics")


class TracingStack(Stack):
    def __init__(self, project: str, env: dict[str, str]):
        super().__init__(project, env)
        self.base = compose_cmd() + ["-p", project, "-f", str(COMPOSE_FILE), "--profile", "monitoring"]


def traces(jaeger: str, service: str, **params) -> list[dict]:
    """Jaeger's api/traces for `service` over the last hour (each trace: traceID, spans, processes)."""
    q = urllib.parse.urlencode({"service": service, "lookback": "1h", "limit": 100, **params})
    st, body = http("GET", f"{jaeger}/api/traces?{q}")
    return body.get("data") or [] if st == 200 and isinstance(body, dict) else []


def service_of(trace: dict, span: dict) -> str:
    return trace["processes"][span["processID"]]["serviceName"]


def tag(span: dict, key: str):
    return next((t["value"] for t in span.get("tags", []) if t["key"] == key), None)


def db_system(span: dict):
    return tag(span, "db.system") or tag(span, "db.system.name")


def detached(trace: dict) -> list[str]:
    """Spans whose parent is not in the trace, other than its one root: a broken propagation shows here."""
    ids = {s["spanID"] for s in trace["spans"]}
    orphans = [s for s in trace["spans"] if any(r["refType"] == "CHILD_OF" and r["spanID"] not in ids for r in s.get("references", []))]
    roots = [s for s in trace["spans"] if not s.get("references")]
    return [f"{service_of(trace, s)}:{s['operationName']}" for s in orphans + roots[1:]]


def summary(trace: dict) -> str:
    return ", ".join(sorted(f"{service_of(trace, s)}:{s['operationName']}" for s in trace["spans"]))


def main() -> int:
    signal.signal(signal.SIGTERM, lambda s, f: (_ for _ in ()).throw(KeyboardInterrupt(f"signal {s}")))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--project", default=f"gmi-tracesmoke-{os.getpid()}")
    ap.add_argument("--keep", action="store_true", help="leave the stack running")
    a = ap.parse_args()
    for var, lab in (("OTELCOL_IMAGE", "LAB_IMAGE_OTELCOL"), ("VICTORIALOGS_IMAGE", "LAB_IMAGE_VICTORIALOGS"),
                     ("JAEGER_IMAGE", "LAB_IMAGE_JAEGER")):
        if not os.environ.get(var) and os.environ.get(lab):
            os.environ[var] = os.environ[lab]
    ports = {k: free_port() for k in ("API_PORT", "ANALYTICS_PORT", "DASHBOARD_PORT", "JAEGER_PORT", "VICTORIALOGS_PORT")}
    key = "gmi_tracesmoke_" + secrets.token_hex(16)
    env = {"POSTGRES_PASSWORD": secrets.token_hex(16), "REDIS_PASSWORD": secrets.token_hex(16), "GMI_BOOTSTRAP_API_KEY": key,
           "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4318", "OTEL_TRACES_SAMPLER_ARG": "1",
           **{k: str(v) for k, v in ports.items()}}
    stack = TracingStack(a.project, env)
    api, dash, jaeger, store = (f"http://127.0.0.1:{ports[k]}" for k in ("API_PORT", "DASHBOARD_PORT", "JAEGER_PORT", "VICTORIALOGS_PORT"))
    c = Checks()
    print(f"compose: {' '.join(stack.base)}", flush=True)
    for k in ("API_IMAGE", "ANALYTICS_IMAGE", "DASHBOARD_IMAGE", "OTELCOL_IMAGE", "VICTORIALOGS_IMAGE", "JAEGER_IMAGE"):
        print(f"  {k}={os.environ.get(k, '(compose default)')}")
    try:
        up = stack.run("up", "-d", *SERVICES, "otel-collector", "victoria-logs", "jaeger", check=False)
        if up.returncode != 0:  # seen once at load 50: a dependency's health check gave up before it was ready
            print(f"compose up failed ({up.stderr.strip()[-300:]}); once more, the containers kept", flush=True)
            stack.run("up", "-d", *SERVICES, "otel-collector", "victoria-logs", "jaeger")
        took, states = stack.wait_healthy(SERVICES)
        if not c.check(f"stack up and healthy ({took:.1f}s waiting)", all(v == "running/healthy" for v in states.values()), str(states)):
            raise Abort("the stack is not healthy")
        ok = wait_for(lambda: (http("GET", f"{jaeger}/api/services")[0] == 200, None), 60, 1)
        c.check("Jaeger's query API answers", bool(ok and ok[0]))

        # a small graph, so the page has memories, links and tags to show; one keyed write is the Postgres check below
        auth = {"X-API-Key": key}
        made = [http("POST", f"{api}/memories", {"text": f"traced memory {i}", "tags": ["otel", f"t{i}"]}, auth)[1] for i in range(3)]
        http("POST", f"{api}/memories/{made[0]['id']}/links", {"target_id": made[1]["id"]}, auth)

        # -- one page load, one trace ----------------------------------------------------------------------------------
        time.sleep(3)  # the writes' traces are exported (batch: 1 s in the collector, 5 s at most in the services)
        before = {t["traceID"] for t in traces(jaeger, "dashboard")}
        with Page() as page:
            text, missing = page.open(dash + "/", ["GraphMemory-IDE", "traced memory 2", "Connected components"])
        c.check("the dashboard page shows the API's and analytics' data", not missing, f"missing {missing}: {text[:300]}")

        def one_new_trace():
            new = [t for t in traces(jaeger, "dashboard") if t["traceID"] not in before]
            complete = len(new) == 1 and {service_of(new[0], s) for s in new[0]["spans"]} >= set(TRACED)
            return complete, new
        t0 = time.monotonic()
        got = wait_for(one_new_trace, 60, 1) or (False, [])
        new = got[1]
        if not c.check(f"one new trace in Jaeger for the page load, spans of {', '.join(TRACED)} ({time.monotonic() - t0:.1f}s)",
                       bool(got[0]), json.dumps([summary(t) for t in new])[:1500]):
            raise Abort("no trace of the page load")
        trace = new[0]
        spans = trace["spans"]
        roots = [s for s in spans if not s.get("references")]
        c.check("its root is the dashboard's `dashboard page` span",
                len(roots) == 1 and roots[0]["operationName"] == "dashboard page" and service_of(trace, roots[0]) == "dashboard",
                summary(trace))
        c.check("every span's parent is in the trace (context carried dashboard → API → graph, dashboard → analytics → API)",
                detached(trace) == [], f"detached: {detached(trace)}")
        redis = [s for s in spans if db_system(s) == "redis" and service_of(trace, s) == "analytics"]
        c.check(f"analytics' Redis call is a span of it ({len(spans)} spans: {summary(trace)[:600]})", bool(redis), summary(trace))

        # the log line leads to the trace: the API's access lines of that run carry its trace id
        lines = []
        for raw in stack.run("logs", "--no-color", "api", check=False).stdout.splitlines():
            try:
                lines.append(json.loads(raw.partition("| ")[2]))
            except ValueError:
                continue
        mine = [ln for ln in lines if ln.get("trace_id") == trace["traceID"].rjust(32, "0")]
        c.check(f"the API's JSON access lines name the trace (trace_id {trace['traceID']}: {len(mine)} lines, routes "
                f"{sorted({ln.get('route') for ln in mine})})", len(mine) >= 2 and all(ln.get("trace_sampled") for ln in mine),
                f"{len(lines)} JSON lines; with a trace_id: {[ln.get('trace_id') for ln in lines if 'trace_id' in ln][:10]}")
        # and in the log store: the collector ships those lines with trace_id a field, so a LogsQL query by the trace's
        # id finds every service's lines of that page load (the way from a log line to its trace and back)
        tid = trace["traceID"].rjust(32, "0")
        def shipped():
            found = logsql(store, f'trace_id:="{tid}"', 200)
            return bool(found) and any('"route": "/graph"' in e.get("_msg", "") for e in found), found
        got = wait_for(shipped, 60, 1) or (False, [])
        c.check(f"VictoriaLogs finds that page load's lines by trace_id ({len(got[1])} lines, from "
                f"{sorted({e.get('container.name', e.get('logger', '?')) for e in got[1]})})", bool(got[0]), json.dumps(got[1])[:600])

        # -- Postgres: the key check of a keyed write ----------------------------------------------------------------
        def write_trace():
            found = [t for t in traces(jaeger, "api", operation="POST /memories")
                     if {db_system(s) for s in t["spans"]} >= {"postgresql", "redis"}]
            return bool(found), found
        got = wait_for(write_trace, 30, 1) or (False, [])
        c.check("a keyed write's trace holds the API's Postgres call (the key check) and its Redis call",
                bool(got[0]), json.dumps([summary(t) for t in traces(jaeger, "api", operation="POST /memories")])[:800])
    except (Abort, KeyboardInterrupt, Exception) as e:  # noqa: BLE001
        report_abort(c, stack, "tracing smoke run", e)
    finally:
        if not a.keep:
            stack.run("down", "-v", "--remove-orphans", check=False)
    print(f"{c.passed} passed, {c.failed} failed")
    return 0 if c.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
