#!/usr/bin/env python3
"""Monitoring smoke test: the compose stack with its `monitoring` profile (Prometheus, Alertmanager), for real.

Brings docker/production/docker-compose.prod.yml up with Prometheus and Alertmanager under a throw-away project, plus
a test webhook receiver (monitoring-webhook.yml), and checks: Prometheus scrapes all three services (targets up), a
query for the API's request counter returns data, the recording rules evaluate, no alert fires on a healthy stack,
the services' JSON log lines carry a request id sent by the client and the OpenTelemetry Collector ships that
line, its fields parsed, to VictoriaLogs, where a LogsQL query finds it by that id (the store keeps 30 days:
-retentionPeriod=30d), and stopping the analytics service makes
ServiceDown fire and page. Alertmanager runs with the repository's own monitoring/alertmanager/alertmanager.yml; only
its secret files are the test's: a random PagerDuty routing key, the chat webhook's URL (the test's webhook), and a
throw-away CA that the test's PagerDuty receiver (Events API v2, as events.pagerduty.com over HTTPS:
monitoring-webhook.yml) is certified by. The page is checked as PagerDuty would take it (routing key of the secret
file, dedup key, severity critical, summary, runbook) and in the chat; fault → page is printed. The test's rules are the
repository's with ServiceDown's `for:` shortened. scripts/health-check is run against the degraded stack and must fail
naming analytics. The stores' exporters: Prometheus reads pg_up == 1 and redis_up == 1 through its query API, then
Redis is stopped and RedisDown (its `for:` shortened too) fires and pages. Both services are started again and each
page is resolved with its trigger's dedup key (Alertmanager sends it at the group's next interval: the pagerduty route's group_interval, 1 minute).
Prints one line per check and `N passed, N failed`.

Images come from the environment: API_IMAGE, ANALYTICS_IMAGE, DASHBOARD_IMAGE, POSTGRES_IMAGE, REDIS_IMAGE,
PROMETHEUS_IMAGE, ALERTMANAGER_IMAGE, POSTGRES_EXPORTER_IMAGE, REDIS_EXPORTER_IMAGE, OTELCOL_IMAGE, VICTORIALOGS_IMAGE,
WEBHOOK_IMAGE (any image with python3); with the lab's env loaded, the LAB_IMAGE_* variables fill in all but the
first five.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from compose_smoke import COMPOSE_FILE, ROOT, SERVICES, Abort, Checks, Stack, compose_cmd, docker_bin, free_port, http, wait_for, report_abort

HERE = Path(__file__).resolve().parent
WEBHOOK_FILE = HERE / "monitoring-webhook.yml"
SHORT_FOR = "5s"


class MonitoringStack(Stack):
    def __init__(self, project: str, env: dict[str, str]):
        super().__init__(project, env)
        self.base = compose_cmd() + ["-p", project, "-f", str(COMPOSE_FILE), "-f", str(WEBHOOK_FILE),
                                     "--profile", "monitoring"]


def shorten_for(rules: Path, file: str, alert: str, was: str) -> None:
    """Rewrites one alert's `for:` in a copied rule file to SHORT_FOR; fails when the alert or its `for:` moved."""
    text = (rules / file).read_text()
    patched = re.sub(rf"(- alert: {alert}\n(?:.*\n)*?\s+for: ){was}", rf"\g<1>{SHORT_FOR}", text, count=1)
    if patched == text:
        raise SystemExit(f"monitoring/prometheus/rules/{file}: {alert} with `for: {was}` not found")
    (rules / file).write_text(patched)


def test_configs(tmp: Path, scrape: str) -> dict[str, str]:
    """The repository's Prometheus config and rules with short intervals and short ServiceDown and RedisDown `for:`;
    Alertmanager's secret files (test_secrets). Returns the compose variables naming them."""
    rules = tmp / "rules"
    shutil.copytree(ROOT / "monitoring" / "prometheus" / "rules", rules)
    shorten_for(rules, "services.yml", "ServiceDown", "2m")
    shorten_for(rules, "datastores.yml", "RedisDown", "1m")
    config = (ROOT / "monitoring" / "prometheus" / "prometheus.compose.yml").read_text()
    config = config.replace("scrape_timeout: 10s", "scrape_timeout: 1s").replace("scrape_interval: 15s", f"scrape_interval: {scrape}").replace("evaluation_interval: 15s", f"evaluation_interval: {scrape}")
    (tmp / "prometheus.yml").write_text(config)
    test_secrets(tmp)
    for p in [tmp, rules, *tmp.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)  # read by the containers' users (test-only keys)
    return {"PROMETHEUS_CONFIG": str(tmp / "prometheus.yml"), "PROMETHEUS_RULES": str(rules),
            "ALERTMANAGER_SECRETS_DIR": str(tmp / "secrets"), "PAGERDUTY_TLS_DIR": str(tmp / "tls")}


def test_secrets(tmp: Path) -> None:
    """Alertmanager's secret files, the only thing of its that differs from production: a random PagerDuty routing
    key, the chat webhook's URL, and a throw-away CA (test-ca.crt, trusted through SSL_CERT_FILE) whose certificate
    for events.pagerduty.com the test's PagerDuty receiver serves (tls/)."""
    sec, tls = tmp / "secrets", tmp / "tls"
    tls.mkdir()
    (sec / "pagerduty-routing-key").write_text(secrets.token_hex(16))
    (sec / "chat-webhook-url").write_text("http://webhook:8080/chat")
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=gmi monitoring smoke test CA",
            "-keyout", str(tls / "ca.key"), "-out", str(sec / "test-ca.crt"))
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=events.pagerduty.com", "-keyout", str(tls / "server.key"),
            "-out", str(tls / "server.csr"))
    (tls / "ext.cnf").write_text("subjectAltName=DNS:events.pagerduty.com\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", str(tls / "server.csr"), "-CA", str(sec / "test-ca.crt"), "-CAkey", str(tls / "ca.key"),
            "-CAcreateserial", "-days", "1", "-extfile", str(tls / "ext.cnf"), "-out", str(tls / "server.crt"))


def status(url: str) -> int:
    """The HTTP status of a GET, 0 when nothing answers (yet)."""
    try:
        return http("GET", url, timeout=5)[0]
    except OSError:
        return 0


def query(prom: str, q: str) -> list:
    st, body = http("GET", f"{prom}/api/v1/query?query={urllib.parse.quote(q)}")
    return body["data"]["result"] if st == 200 and isinstance(body, dict) and body.get("status") == "success" else []


def logsql(store: str, q: str, limit: int = 50) -> list[dict]:
    """The entries of VictoriaLogs at `store` matching the LogsQL query `q` (every field a string); [] if it refuses."""
    url = f"{store}/select/logsql/query?" + urllib.parse.urlencode({"query": q, "limit": limit})
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return [json.loads(l) for l in r.read().decode().splitlines() if l.strip()]
    except (OSError, ValueError):
        return []


def received(stack: Stack, service: str) -> list[dict]:
    """The JSON documents a test receiver (`pagerduty` or `webhook`) printed, in order."""
    out = stack.run("logs", "--no-color", service, check=False).stdout
    docs = []
    for raw in out.splitlines():
        try:
            docs.append(json.loads(raw.partition("| ")[2]))
        except ValueError:
            continue
    return docs


def page(stack: Stack, runbook: str, action: str) -> dict | None:
    """The first PagerDuty event with `action` (trigger, resolve) for the alert whose runbook is `runbook`."""
    for e in received(stack, "pagerduty"):
        body = e.get("body") or {}
        if body.get("event_action") == action and (body.get("payload") or {}).get("custom_details", {}).get("runbook") == runbook:
            return e
    return None


def check_alert_travels(c: Checks, stack: Stack, prom: str, name: str, job: str, what: str, runbook: str, since: float,
                        stopped_at: float, routing_key: str) -> dict | None:
    """Checks alert `name` for `job` fires in Prometheus, then pages through the repository's Alertmanager config: a
    PagerDuty trigger with the secret file's routing key, a dedup key, severity critical, the summary naming `job`,
    the runbook; and the chat's webhook gets it too. Returns the page's event (for its resolve)."""
    fired = wait_for(lambda: (bool(v := query(prom, f'ALERTS{{alertname="{name}", job="{job}", alertstate="firing"}}')), v), 90, 1)
    c.check(f"{what}: {name} fires for it (for: {SHORT_FOR}; {time.monotonic() - since:.1f}s after stop)", bool(fired and fired[0]), str(fired))
    got = wait_for(lambda: (bool(e := page(stack, runbook, "trigger")), e), 90, 1)
    e = got[1] if got else None
    body = (e or {}).get("body") or {}
    payload = body.get("payload") or {}
    ok = (bool(e) and e.get("valid") is True and e.get("path") == "/v2/enqueue" and "json" in (e.get("content_type") or "")
          and body.get("routing_key") == routing_key and len(body.get("dedup_key") or "") >= 16
          and payload.get("severity") == "critical" and job in (payload.get("summary") or "").lower()
          and payload.get("custom_details", {}).get("firing") == "1")
    took = f"{e['received'] - stopped_at:.1f}s from the fault to the page" if e else "no page"
    c.check(f"{name} paged through the repository's alertmanager.yml: PagerDuty Events v2 trigger with the secret's routing key, "
            f"a dedup key, severity critical, summary, runbook ({took})", ok, json.dumps(e)[:600])
    if e:
        print(f"fault → page: {name} ({job}) {e['received'] - stopped_at:.1f}s (for: {SHORT_FOR} in this test, "
              f"the rule's own is longer; the pagerduty route's group_wait 10s)", flush=True)
    chat = wait_for(lambda: (any(f"[FIRING] {name} (critical)" in a.get("title", "") and runbook in a.get("text", "")
                                 for d in received(stack, "webhook") for a in d.get("attachments", [])), None), 30, 1)
    c.check(f"{name} also reached the chat's webhook ([FIRING] {name} (critical), with its runbook)", bool(chat and chat[0]))
    return e


def check_resolved(c: Checks, stack: Stack, name: str, runbook: str, trigger: dict | None, routing_key: str) -> None:
    """Checks the page of `name` is resolved: a resolve event with its trigger's dedup key and the routing key."""
    if not trigger:
        c.check(f"{name}: page resolved", False, "no trigger to resolve")
        return
    t0 = time.monotonic()
    got = wait_for(lambda: (bool(e := page(stack, runbook, "resolve")), e), 180, 2)
    e = got[1] if got else None
    body = (e or {}).get("body") or {}
    c.check(f"{name}: page resolved with its trigger's dedup key ({time.monotonic() - t0:.0f}s waiting; group_interval 1m)",
            bool(e) and e.get("valid") is True and body.get("dedup_key") == trigger["body"]["dedup_key"] and body.get("routing_key") == routing_key,
            json.dumps(e)[:400])


def main() -> int:
    signal.signal(signal.SIGTERM, lambda s, f: (_ for _ in ()).throw(KeyboardInterrupt(f"signal {s}")))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--project", default=f"gmi-monsmoke-{os.getpid()}")
    ap.add_argument("--keep", action="store_true", help="leave the stack running")
    a = ap.parse_args()
    for var, lab in (("PROMETHEUS_IMAGE", "LAB_IMAGE_PROMETHEUS"), ("ALERTMANAGER_IMAGE", "LAB_IMAGE_ALERTMANAGER"),
                     ("WEBHOOK_IMAGE", "LAB_IMAGE_PYTHON_RUNTIME"), ("OTELCOL_IMAGE", "LAB_IMAGE_OTELCOL"),
                     ("POSTGRES_EXPORTER_IMAGE", "LAB_IMAGE_POSTGRES_EXPORTER"), ("REDIS_EXPORTER_IMAGE", "LAB_IMAGE_REDIS_EXPORTER"),
                     ("VICTORIALOGS_IMAGE", "LAB_IMAGE_VICTORIALOGS"), ("JAEGER_IMAGE", "LAB_IMAGE_JAEGER")):
        if not os.environ.get(var) and os.environ.get(lab):
            os.environ[var] = os.environ[lab]

    tmp = Path(tempfile.mkdtemp(prefix="gmi-monsmoke-"))
    (tmp / "secrets").mkdir()
    # JAEGER_PORT too: the profile's Jaeger starts with the rest, and the lab's own Jaeger holds 16686 on the host
    ports = {k: free_port() for k in ("API_PORT", "ANALYTICS_PORT", "DASHBOARD_PORT", "PROMETHEUS_PORT", "ALERTMANAGER_PORT", "VICTORIALOGS_PORT", "JAEGER_PORT")}
    env = {"POSTGRES_PASSWORD": secrets.token_hex(16), "REDIS_PASSWORD": secrets.token_hex(16),
           "GMI_BOOTSTRAP_API_KEY": "gmi_monsmoke_" + secrets.token_hex(16), **{k: str(v) for k, v in ports.items()},
           **test_configs(tmp, "2s")}
    routing_key = (tmp / "secrets" / "pagerduty-routing-key").read_text()
    stack = MonitoringStack(a.project, env)
    api, prom, am, store = (f"http://127.0.0.1:{ports[k]}" for k in ("API_PORT", "PROMETHEUS_PORT", "ALERTMANAGER_PORT", "VICTORIALOGS_PORT"))
    c = Checks()
    print(f"compose: {' '.join(stack.base)}", flush=True)
    for k in ("API_IMAGE", "ANALYTICS_IMAGE", "DASHBOARD_IMAGE", "PROMETHEUS_IMAGE", "ALERTMANAGER_IMAGE", "OTELCOL_IMAGE",
              "VICTORIALOGS_IMAGE", "POSTGRES_EXPORTER_IMAGE", "REDIS_EXPORTER_IMAGE", "WEBHOOK_IMAGE"):
        print(f"  {k}={os.environ.get(k, '(compose default)')}")
    try:
        t0 = time.monotonic()
        # the application first, healthy, then the monitoring: a Prometheus scraping services still starting would
        # fire ServiceDown (its `for:` is 5 s here) and leave an Alertmanager group behind, whose next flush
        # (group_interval), not group_wait, would then time the fault's page
        stack.run("up", "-d", *SERVICES)
        took, states = stack.wait_healthy(SERVICES)
        stack.run("up", "-d")
        if not c.check(f"stack up and healthy ({took:.1f}s waiting)", all(v == "running/healthy" for v in states.values()), str(states)):
            raise Abort("the stack is not healthy")
        ok = wait_for(lambda: (status(f"{prom}/-/ready") == 200 and status(f"{am}/-/ready") == 200 and status(f"{store}/health") == 200, None), 60)
        c.check("Prometheus, Alertmanager and VictoriaLogs ready", bool(ok and ok[0]))

        # -- scraping -----------------------------------------------------------------------------------------------
        def targets():
            st, body = http("GET", f"{prom}/api/v1/targets?state=active")
            got = {t["labels"]["job"]: t["health"] for t in body["data"]["activeTargets"]} if st == 200 else {}
            return all(got.get(j) == "up" for j in ("api", "analytics", "dashboard", "prometheus", "alertmanager", "postgres", "redis")), got
        t1 = time.monotonic()
        ok, got = wait_for(targets, 60, 1)
        c.check(f"Prometheus scrapes api, analytics, dashboard, itself, Alertmanager and the two exporters: all up ({time.monotonic() - t1:.1f}s)", ok, str(got))
        for metric, job in (("pg_up", "postgres"), ("redis_up", "redis")):
            v = wait_for(lambda: (bool(r := query(prom, f'{metric}{{job="{job}"}}')) and r[0]["value"][1] == "1", r), 30, 1)
            c.check(f"{metric} == 1 through Prometheus's query API (the {job} exporter reaches {job})", bool(v and v[0]), str(v))

        request_id = "monsmoke-" + secrets.token_hex(6)
        for _ in range(5):
            http("GET", f"{api}/status")
        st, _ = http("GET", f"{api}/memories/{'0' * 32}", headers={"X-Request-ID": request_id})
        series = wait_for(lambda: (bool(v := query(prom, 'sum(gmi_http_requests_total{job="api", route="/status"})'))
                                   and float(v[0]["value"][1]) >= 5, v), 30, 1)
        c.check("query of the API's request counter returns data (>= 5 /status requests)", bool(series and series[0]), str(series))
        rec = wait_for(lambda: (bool(v := query(prom, 'job:http_requests:rate5m{job="api"}')), v), 30, 1)
        c.check("recording rule job:http_requests:rate5m evaluates for the API", bool(rec and rec[0]), str(rec))
        firing = query(prom, 'ALERTS{alertstate="firing"}')
        c.check("no alert fires on the healthy stack", firing == [], json.dumps(firing)[:400])

        # -- logs ---------------------------------------------------------------------------------------------------
        logs = stack.run("logs", "--no-color", "api", check=False).stdout
        lines = []
        for raw in logs.splitlines():
            _, _, rest = raw.partition("| ")
            try:
                lines.append(json.loads(rest))
            except ValueError:
                continue
        mine = [l for l in lines if l.get("request_id") == request_id]
        c.check(f"the API's JSON access line for request {request_id}: route template, status 404, duration",
                len(mine) == 1 and mine[0].get("route") == "/memories/{memory_id}" and mine[0].get("status") == 404
                and isinstance(mine[0].get("duration_ms"), (int, float)), f"{len(lines)} JSON lines; mine: {mine}")

        # the same request in the log store: shipped by the collector, its JSON fields parsed, found by its id
        def shipped():
            found = logsql(store, f'request_id:="{request_id}"')
            e = found[0] if len(found) == 1 else {}
            ok = (e.get("route") == "/memories/{memory_id}" and e.get("status") == "404" and e.get("level") == "info"
                  and re.fullmatch(r"[0-9.]+", e.get("duration_ms", "")) is not None and request_id in e.get("_msg", ""))
            return ok, found
        t3 = time.monotonic()
        ok, found = wait_for(shipped, 60, 1) or (False, [])
        c.check(f"VictoriaLogs finds that line by its request id, with route, status, duration_ms and level parsed ({time.monotonic() - t3:.1f}s)",
                ok, json.dumps(found)[:800])
        flags = http("GET", f"{store}/flags")[1]
        c.check("VictoriaLogs keeps 30 days on its volume (-retentionPeriod=30d, -storageDataPath=/victoria-logs-data)",
                isinstance(flags, str) and '-retentionPeriod="30d"' in flags and '-storageDataPath="/victoria-logs-data"' in flags, str(flags)[:400])

        # -- an alert end to end -------------------------------------------------------------------------------------
        t2, wall2 = time.monotonic(), time.time()
        stack.run("stop", "analytics")
        down_page = check_alert_travels(c, stack, prom, "ServiceDown", "analytics", "analytics stopped", "docs/runbooks/alerts/service-down.md",
                                        t2, wall2, routing_key)

        hc = subprocess.run(["node", str(ROOT / "scripts" / "health-check"), "--api", api,
                             "--analytics", f"http://127.0.0.1:{ports['ANALYTICS_PORT']}",
                             "--dashboard", f"http://127.0.0.1:{ports['DASHBOARD_PORT']}", "--prometheus", prom, "--timeout", "3"],
                            capture_output=True, text=True, timeout=60)
        c.check("scripts/health-check exits 1 naming analytics (ready and target) and passes the API",
                hc.returncode == 1 and re.search(r"^FAIL\s+analytics ready", hc.stdout, re.M) is not None
                and re.search(r"^FAIL\s+target analytics", hc.stdout, re.M) is not None
                and re.search(r"^ok\s+api ready", hc.stdout, re.M) is not None, hc.stdout + hc.stderr)
        print(hc.stdout, end="", flush=True)

        # -- a store down: its exporter says so -----------------------------------------------------------------------
        stack.run("start", "analytics")
        t4, wall4 = time.monotonic(), time.time()
        stack.run("stop", "redis")
        down = wait_for(lambda: (bool(v := query(prom, 'redis_up{job="redis"} == 0')), v), 60, 1)
        c.check(f"redis stopped: the exporter reports redis_up == 0 ({time.monotonic() - t4:.1f}s after stop)", bool(down and down[0]), str(down))
        redis_page = check_alert_travels(c, stack, prom, "RedisDown", "redis", "redis stopped", "docs/runbooks/alerts/redis-down.md",
                                         t4, wall4, routing_key)
        stack.run("start", "redis")
        # -- both back: each page resolved ------------------------------------------------------------------------------
        check_resolved(c, stack, "ServiceDown", "docs/runbooks/alerts/service-down.md", down_page, routing_key)
        check_resolved(c, stack, "RedisDown", "docs/runbooks/alerts/redis-down.md", redis_page, routing_key)
    except (Abort, KeyboardInterrupt, Exception) as e:  # noqa: BLE001
        report_abort(c, stack, "monitoring smoke run", e)
    finally:
        if not a.keep:
            stack.run("down", "-v", "--remove-orphans", check=False)
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{c.passed} passed, {c.failed} failed")
    return 0 if c.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
