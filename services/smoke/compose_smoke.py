#!/usr/bin/env python3
"""Compose smoke test of the GraphMemory-IDE stack, end to end, as a user meets it.

Brings docker/production/docker-compose.prod.yml up under a throw-away project (its own secrets, volumes and
127.0.0.1 ports), waits for every service to be healthy, then checks: API keys and validation, memories, links,
neighbours, search (and its Redis cache), analytics reflecting the writes, the dashboard page as Chromium renders it
(its numbers and recent memories compared with the API's; screenshot in services/smoke/out/), a Postgres outage
(/ready 503 naming postgres while /health stays 200 and every read route still answers), the dashboard's message when
analytics is down, a restart of the graph service under steady API reads (none fails: the API retries), and a start on
an existing volume the service's user cannot write (the graph service, and the API run alone). Tears everything down.
Prints one line per check (PASS, FAIL or SKIP) and closes with `N passed, N failed` (`, N skipped` when any were);
exit status 0 only if all passed and none was skipped (--no-browser skips the Chromium checks: add --allow-skipped
to accept that).

Images come from the environment like the compose file (API_IMAGE, ANALYTICS_IMAGE, DASHBOARD_IMAGE, POSTGRES_IMAGE,
REDIS_IMAGE). Needs: docker with `docker compose` or `docker-compose` (1.29+), chromium, and `websockets`
(services/smoke/requirements.txt).
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
COMPOSE_FILE = ROOT / "docker" / "production" / "docker-compose.prod.yml"
SERVICES = ("postgres", "redis", "graph", "api", "analytics", "dashboard")


# -- small helpers ----------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body=None, headers=None, timeout: float = 10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def health_check(api: str, ana: str, dash: str) -> subprocess.CompletedProcess:
    """scripts/health-check (zx, run by node) against the stack's published ports, without Prometheus."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node not found: scripts/health-check needs Node.js (make deps)")
    return subprocess.run([node, str(ROOT / "scripts" / "health-check"), "--api", api, "--analytics", ana,
                           "--dashboard", dash, "--prometheus", "none"], capture_output=True, text=True, timeout=60)


def docker_bin() -> str:
    # the Debian 20.10 client speaks BuildKit without buildx; any client works for compose and run
    return os.environ.get("DOCKER", "docker")


def compose_cmd() -> list[str]:
    d = docker_bin()
    if subprocess.run([d, "compose", "version"], capture_output=True).returncode == 0:
        return [d, "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise SystemExit("neither `docker compose` nor `docker-compose` works: apt-get install docker-compose")


class Stack:
    def __init__(self, project: str, env: dict[str, str]):
        self.project, self.env = project, env
        self.base = compose_cmd() + ["-p", project, "-f", str(COMPOSE_FILE)]

    def run(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        r = subprocess.run(self.base + list(args), env=os.environ | self.env, capture_output=True, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"compose {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    def container(self, service: str) -> str:
        return self.run("ps", "-q", service).stdout.strip()

    def health(self, service: str) -> str:
        cid = self.container(service)
        if not cid:
            return "absent"
        r = subprocess.run([docker_bin(), "inspect", "-f", "{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}", cid],
                           capture_output=True, text=True)
        return r.stdout.strip()

    def wait_healthy(self, services, timeout: float = 180) -> tuple[float, dict[str, str]]:
        """Waits until every service's container is running and its health check passes, or the time is up; returns
        the seconds waited and the last state of each service (`running/healthy` when good)."""
        t0 = time.monotonic()
        while True:
            states = {s: self.health(s) for s in services}
            if all(v == "running/healthy" for v in states.values()) or time.monotonic() - t0 > timeout:
                return time.monotonic() - t0, states
            time.sleep(1)

    def started(self, service: str) -> str:
        """When the service's container last started and how often it was restarted (changes if it crashed)."""
        r = subprocess.run([docker_bin(), "inspect", "-f", "{{.State.StartedAt}} restarts={{.RestartCount}}",
                            self.container(service)], capture_output=True, text=True)
        return r.stdout.strip()


def wait_for(fn, timeout: float = 60, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last[0]:
            return last
        time.sleep(interval)
    return last


# -- the checks -------------------------------------------------------------------------------------------------------
class Abort(Exception):
    """A check failed that the rest of the run depends on (already counted as a failure)."""


class Checks:
    def __init__(self):
        self.passed, self.failed, self.skipped = 0, 0, 0

    def skip(self, name: str, reason: str) -> None:
        self.skipped += 1
        print(f"SKIP {name}: {reason}", flush=True)

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        if ok:
            self.passed += 1
            print(f"PASS {name}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL {name}: {detail}", flush=True)
        return ok


# Size budgets of the service images (MB, 10^6 bytes as `docker images` shows them).
IMAGE_BUDGETS_MB = {"API_IMAGE": 300, "ANALYTICS_IMAGE": 300, "DASHBOARD_IMAGE": 450}


def check_images(c: "Checks") -> None:
    """Each service image is within its size budget and runs as a non-root user."""
    for var, budget in IMAGE_BUDGETS_MB.items():
        image = os.environ.get(var)
        if not image:
            c.check(f"{var} set", False, "name the image to check in the environment")
            continue
        out = subprocess.run([docker_bin(), "image", "inspect", "-f", "{{.Size}} {{.Config.User}}", image],
                             capture_output=True, text=True)
        size, _, user = out.stdout.strip().partition(" ")
        mb = int(size or 0) / 1e6
        c.check(f"{image}: {mb:.0f} MB <= {budget} MB", out.returncode == 0 and mb <= budget, out.stderr.strip())
        # Config.User is `user[:group]`; only the user part decides, and a name may still map to uid 0: ask the image
        name = user.partition(":")[0]
        ids = subprocess.run([docker_bin(), "run", "--rm", "--network", "none", "--entrypoint", "python", image, "-c",
                              "import os; print(os.getuid(), os.getgid())"], capture_output=True, text=True, timeout=60)
        uid, _, gid = ids.stdout.strip().partition(" ")
        c.check(f"{image}: runs as non-root user {user or '(none)'} (uid {uid or '?'}, gid {gid or '?'})",
                out.returncode == 0 and name not in ("", "0", "root") and ids.returncode == 0 and uid.isdigit()
                and int(uid) != 0, f"User={user!r}; id: {ids.stdout.strip()} {ids.stderr.strip()[-300:]}")


def _terminate(signum, frame):  # turn SIGTERM into an exception so the stack is still torn down
    raise KeyboardInterrupt(f"signal {signum}")


def report_abort(c: "Checks", stack: "Stack", run: str, e: BaseException, tail: int = 20) -> None:
    """What a smoke run that stopped early prints: an Abort's reason, or any other exception as the failed check
    "<run> completed"; then the stack's containers and their last log lines (each of the smoke tests ends so)."""
    if isinstance(e, Abort):
        print(f"aborted: {e}", flush=True)
    else:
        c.check(f"{run} completed", False, f"{type(e).__name__}: {e}")
    try:
        print(stack.run("ps", check=False).stdout)
        print(stack.run("logs", "--tail", str(tail), check=False).stdout[-6000:])
    except Exception:  # noqa: BLE001
        pass


def main() -> int:
    signal.signal(signal.SIGTERM, _terminate)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--project", default=f"gmi-smoke-{os.getpid()}")
    ap.add_argument("--keep", action="store_true", help="leave the stack running")
    ap.add_argument("--no-browser", action="store_true",
                    help="skip the Chromium checks of the dashboard (they are reported as SKIP and the run exits 1 "
                         "unless --allow-skipped is given)")
    ap.add_argument("--allow-skipped", action="store_true", help="exit 0 even when checks were skipped")
    ap.add_argument("--out", default=str(HERE / "out"))
    a = ap.parse_args()

    ports = {"API_PORT": free_port(), "ANALYTICS_PORT": free_port(), "DASHBOARD_PORT": free_port()}
    key = "gmi_smoke_" + secrets.token_hex(16)
    env = {"POSTGRES_PASSWORD": secrets.token_hex(16), "REDIS_PASSWORD": secrets.token_hex(16),
           "GMI_BOOTSTRAP_API_KEY": key, **{k: str(v) for k, v in ports.items()}}
    # (variables from the environment win over a developer's docker/production/.env, which compose also reads)
    stack = Stack(a.project, env)
    api = f"http://127.0.0.1:{ports['API_PORT']}"
    ana = f"http://127.0.0.1:{ports['ANALYTICS_PORT']}"
    dash = f"http://127.0.0.1:{ports['DASHBOARD_PORT']}"
    auth = {"X-API-Key": key}
    root_volume = f"{a.project}_kuzu-root-owned"
    c = Checks()
    print(f"compose: {' '.join(stack.base)}", flush=True)
    for k in ("API_IMAGE", "ANALYTICS_IMAGE", "DASHBOARD_IMAGE", "POSTGRES_IMAGE", "REDIS_IMAGE"):
        print(f"  {k}={os.environ.get(k, '(compose default)')}")
    try:
        check_images(c)
        t0 = time.monotonic()
        stack.run("up", "-d")
        took, states = stack.wait_healthy(SERVICES)
        if not c.check(f"stack up and healthy ({time.monotonic() - t0:.1f}s from `up`, {took:.1f}s waiting)",
                       all(v == "running/healthy" for v in states.values()), f"states: {states}"):
            raise Abort("the stack is not healthy")

        # -- API --------------------------------------------------------------------------------------------------
        st, body = http("GET", f"{api}/health")
        c.check("api /health 200", st == 200, f"{st} {body}")
        hc = health_check(api, ana, dash)
        c.check("scripts/health-check: exit 0, api, analytics and dashboard ready",
                hc.returncode == 0 and all(f"ok    {n} ready" in hc.stdout for n in ("api", "analytics", "dashboard"))
                and "all 3 checks passed" in hc.stdout, f"rc={hc.returncode} {hc.stdout}{hc.stderr}")
        st, body = http("GET", f"{api}/ready")
        c.check("api /ready 200 with kuzu, postgres, redis ok", st == 200 and not body["failing"], f"{st} {body}")
        st, body = http("POST", f"{api}/memories", {"text": "no key"})
        c.check("write without a key -> 401", st == 401, f"{st} {body}")
        st, body = http("POST", f"{api}/memories", {"tags": ["x"]}, auth)
        c.check("malformed memory -> 422 naming `text`", st == 422 and ["body", "text"] in
                [e["loc"] for e in body["detail"]], f"{st} {body}")
        ids = {}
        for name, text, tags in (("a", "Kuzu keeps the smoke graph", ["smoke", "kuzu"]),
                                 ("b", "Redis caches smoke searches", ["smoke", "redis"]),
                                 ("c", "Postgres holds smoke API keys", ["smoke", "postgres"]),
                                 ("d", "An isolated smoke memory", ["island"])):
            st, body = http("POST", f"{api}/memories", {"text": text, "tags": tags, "project": "smoke"}, auth)
            ids[name] = body["id"] if st == 201 else None
        c.check("4 memories created with the bootstrap key", all(ids.values()), str(ids))
        l1 = http("POST", f"{api}/memories/{ids['a']}/links", {"target_id": ids["b"]}, auth)[0]
        l2 = http("POST", f"{api}/memories/{ids['b']}/links", {"target_id": ids["c"], "kind": "uses"}, auth)[0]
        c.check("links a->b, b->c created", (l1, l2) == (201, 201), f"{l1} {l2}")
        st, body = http("GET", f"{api}/memories/{ids['a']}/neighbors?depth=2")
        got = {(n["id"], n["distance"]) for n in body} if st == 200 else body
        c.check("neighbours of a to depth 2 = b (1), c (2)", got == {(ids["b"], 1), (ids["c"], 2)}, str(got))
        st1, s1 = http("GET", f"{api}/search?q=smoke")
        st2, s2 = http("GET", f"{api}/search?q=smoke")
        c.check("search finds 4 memories; second answer from the Redis cache",
                st1 == 200 and len(s1["results"]) == 4 and not s1["cached"] and s2["cached"], f"{s1} {s2}")
        st, body = http("GET", f"{api}/status")
        c.check("status counts 4 memories, 2 links", st == 200 and body["memories"] == 4 and body["links"] == 2,
                str(body))
        st, m = http("GET", f"{api}/metrics")
        c.check("api /metrics has request and store metrics",
                st == 200 and "gmi_http_requests_total" in m and 'store="kuzu"' in m, str(m)[:200])

        # -- analytics --------------------------------------------------------------------------------------------
        st, s = http("GET", f"{ana}/analytics/summary")
        ok = (st == 200 and s["nodes"] == 4 and s["edges"] == 2 and s["components"]["sizes"] == [3, 1]
              and s["top_tags"][0] == {"tag": "smoke", "count": 3}
              and s["degree_centrality"][0] == {"id": ids["b"], "centrality": round(2 / 3, 6)})
        c.check("analytics: components [3,1], top tag smoke x3, b most central", ok, str(s))
        st, s2 = http("GET", f"{ana}/analytics/summary")
        c.check("analytics answer cached in Redis", st == 200 and s2.get("cached") is True, str(s2)[:200])
        st, body = http("GET", f"{ana}/ready")
        c.check("analytics /ready 200", st == 200, f"{st} {body}")
        st, m = http("GET", f"{ana}/metrics")
        c.check("analytics /metrics", st == 200 and "gmi_analytics_http_requests_total" in m, str(m)[:200])

        # -- dashboard --------------------------------------------------------------------------------------------
        st, body = http("GET", f"{dash}/_stcore/health")
        c.check("dashboard /_stcore/health", st == 200, f"{st} {body}")
        browser_checks = ("dashboard page (Chromium): counts, recent memories and analytics equal the API's",
                          "dashboard page shows no error or traceback",
                          "analytics down: the page says so, API data still shown")
        if a.no_browser:
            for name in browser_checks:
                c.skip(name, "--no-browser")
        else:
            from browser import Page  # needs websockets and chromium

            # what the page must show, read from the services in this run
            st_s, status = http("GET", f"{api}/status")
            st_r, recent = http("GET", f"{api}/memories?limit=20")
            st_a, summary = http("GET", f"{ana}/analytics/summary")
            if (st_s, st_r, st_a) != (200, 200, 200):
                raise RuntimeError(f"reading the API for the dashboard check: {st_s} {st_r} {st_a}")
            want_metrics = {"Memories": str(status["memories"]), "Links": str(status["links"]),
                            "Projects": str(status["projects"]),
                            "Connected components": str(summary["components"]["count"]),
                            "Largest component": str(summary["components"]["sizes"][0]),
                            "Tagged topics": str(len(summary["top_tags"]))}
            want_recent = [[m["id"][:8], m["text"], ", ".join(m["tags"]), m["project"]] for m in recent]
            with Page() as page:
                expect = ["GraphMemory-IDE", "Memories", "Kuzu keeps the smoke graph", "Redis caches smoke searches",
                          "Connected components", "Top tags", "smoke"]
                text, missing = page.open(dash + "/", expect, drawn="[data-testid=stVegaLiteChart] svg.marks",
                                          min_drawn=3)
                page.screenshot(Path(a.out) / "dashboard.png")
                shown = page.metrics()
                tables = page.tables()
                # the recent-memories table: id, text, tags, project, created (header row first)
                got_recent = [row[:4] for row in tables[0][1:]] if tables else []
                c.check(f"{browser_checks[0]} ({', '.join(f'{k} {v}' for k, v in shown.items())}; "
                        f"{len(got_recent)} recent rows), 3 charts drawn",
                        not missing and shown == want_metrics and got_recent == want_recent
                        and want_metrics["Memories"] == "4" and want_metrics["Links"] == "2",
                        f"missing {missing}; page metrics {shown} != API {want_metrics}" if shown != want_metrics
                        else f"missing {missing}; recent rows {got_recent} != API {want_recent}")
                c.check(browser_checks[1], "Traceback" not in text and "unavailable" not in text, text[:400])

                stack.run("stop", "analytics")
                text, missing = page.open(dash + "/", ["Analytics service unavailable", "Kuzu keeps the smoke graph"])
                page.screenshot(Path(a.out) / "dashboard-analytics-down.png")
                shown = page.metrics()
                api_part = {k: want_metrics[k] for k in ("Memories", "Links", "Projects")}
                c.check(browser_checks[2], not missing and "Traceback" not in text and shown == api_part,
                        f"missing {missing}; metrics {shown} (want {api_part}); {text[:400]!r}")
                stack.run("start", "analytics")

        # -- a service down: the health check fails naming it ------------------------------------------------------
        stack.run("stop", "analytics")
        hc = health_check(api, ana, dash)
        c.check("analytics stopped: scripts/health-check exits 1 naming analytics, api and dashboard still ok",
                hc.returncode == 1 and "FAIL  analytics ready" in hc.stdout and "ok    api ready" in hc.stdout
                and "ok    dashboard ready" in hc.stdout, f"rc={hc.returncode} {hc.stdout}{hc.stderr}")
        stack.run("start", "analytics")
        stack.wait_healthy(["analytics"])

        # -- Postgres outage ----------------------------------------------------------------------------------------
        # Reads never use Postgres (it holds only API keys): while it is down every read route must still answer
        # with the data written before, from the same API process (no crash or restart), through analytics too.
        read_routes = ["/status", "/memories?limit=20", f"/memories/{ids['a']}", f"/memories/{ids['a']}/neighbors?depth=2",
                       "/graph"]
        def read_all() -> dict[str, tuple]:
            out = {}
            for route in read_routes:
                st, body = http("GET", f"{api}{route}")
                if route == "/graph" and st == 200:  # node and edge order is not part of the contract
                    body = {k: sorted(v, key=json.dumps) if isinstance(v, list) else v for k, v in body.items()}
                elif route.endswith("/neighbors?depth=2") and st == 200:
                    body = sorted(body, key=json.dumps)
                out[route] = (st, body)
            return out

        before = read_all()
        api_started = stack.started("api")
        stack.run("stop", "postgres")
        st_r, body_r = wait_for(lambda: (lambda r: (r[0] == 503, r))(http("GET", f"{api}/ready")), 30)[1]
        st_h, _ = http("GET", f"{api}/health")
        c.check("postgres down: /ready 503 naming postgres, /health 200",
                st_r == 503 and body_r["failing"] == ["postgres"] and st_h == 200, f"{st_r} {body_r} health={st_h}")
        hc = health_check(api, ana, dash)
        c.check("postgres down: scripts/health-check exits 1 naming the API's failing postgres",
                hc.returncode == 1 and "FAIL  api ready" in hc.stdout and "failing postgres" in hc.stdout
                and "1 of 3 checks failed" in hc.stdout, f"rc={hc.returncode} {hc.stdout}{hc.stderr}")
        st, body = http("POST", f"{api}/memories", {"text": "while postgres is down"}, auth)
        c.check("postgres down: a write is refused with 503 naming postgres",
                st == 503 and "postgres" in body["detail"], f"{st} {body}")
        during = read_all()
        st_q, search = http("GET", f"{api}/search?q=kuzu")  # not asked before: answered by Kuzu, not the cache
        st_a, summary = http("GET", f"{ana}/analytics/summary?refresh=true")
        still_down = http("GET", f"{api}/ready")
        changed = [r for r in read_routes if during[r] != before[r] or during[r][0] != 200]
        c.check("postgres down: every read route answers as before (status, memories, memory, neighbours, graph, "
                "uncached search, analytics refresh), same API process",
                not changed and st_q == 200 and not search["cached"]
                and [m["id"] for m in search["results"]] == [ids["a"]]
                and st_a == 200 and summary["nodes"] == 4 and summary["edges"] == 2
                and still_down[0] == 503 and still_down[1]["failing"] == ["postgres"]
                and stack.started("api") == api_started,
                f"changed or failing: {[(r, during[r]) for r in changed]}; search {st_q} {search}; "
                f"analytics {st_a} {str(summary)[:200]}; ready {still_down}; api {api_started} -> {stack.started('api')}")
        stack.run("start", "postgres")
        ok = wait_for(lambda: (http("GET", f"{api}/ready")[0] == 200, None), 60)[0]
        c.check("postgres back: /ready 200 again", ok)

        # -- the graph service restarted under steady reads ---------------------------------------------------------
        # The API retries a graph call it cannot deliver (GRAPH_RETRY_SECONDS), so reads sent while the graph's
        # container stops and starts again wait instead of failing.
        import threading
        outcomes: list[tuple[int, float]] = []
        stop = threading.Event()

        def reads():
            while not stop.is_set():
                t = time.monotonic()
                try:
                    st = http("GET", f"{api}/memories?limit=3", timeout=40)[0]
                except OSError:  # refused, reset, timed out: a failed request
                    st = 0
                outcomes.append((st, time.monotonic() - t))
                time.sleep(0.05)

        reader = threading.Thread(target=reads, daemon=True)
        reader.start()
        time.sleep(1)
        t0 = time.monotonic()
        stack.run("restart", "graph")
        restart_s = time.monotonic() - t0
        time.sleep(1)
        stop.set()
        reader.join(60)
        failed = [st for st, _ in outcomes if st != 200]
        c.check(f"graph restarted ({restart_s:.1f}s) under {len(outcomes)} API reads: none failed, longest "
                f"{max((d for _, d in outcomes), default=0):.1f}s", len(outcomes) > 5 and not failed,
                f"statuses {failed[:10]}")

        # -- unwritable KUZU_DB_PATH --------------------------------------------------------------------------------
        # An existing volume the service's user (10001) cannot write: a fresh named volume mounted where the image has
        # no directory is owned by root, as a volume provisioned without fsGroup/chown would be.
        api_cid = stack.container("api")
        image = subprocess.run([docker_bin(), "inspect", "-f", "{{.Config.Image}}", api_cid],
                               capture_output=True, text=True).stdout.strip()
        subprocess.run([docker_bin(), "volume", "create", root_volume], check=True, capture_output=True)
        r = subprocess.run([docker_bin(), "run", "--rm", "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
                            "--security-opt", "no-new-privileges", "-v", f"{root_volume}:/srv/kuzu",
                            "-e", "KUZU_DB_PATH=/srv/kuzu", "-e", "DATABASE_URL=postgresql://u:p@127.0.0.1:1/x", image],
                           capture_output=True, text=True, timeout=60)
        lines = r.stderr.strip().splitlines()
        c.check("existing root-owned volume as KUZU_DB_PATH: exit 2 with one line naming it as not writable",
                r.returncode == 2 and lines == ["gmi-api: invalid configuration: KUZU_DB_PATH directory /srv/kuzu is "
                                                "not writable by uid 10001: Permission denied"],
                f"rc={r.returncode} {r.stderr[-600:]}")
        if lines:
            print(f"     {lines[0]}")
        r = subprocess.run([docker_bin(), "run", "--rm", "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
                            "--security-opt", "no-new-privileges", "-v", f"{root_volume}:/srv/kuzu",
                            "-e", "KUZU_DB_PATH=/srv/kuzu", image, "graph"], capture_output=True, text=True, timeout=60)
        lines = r.stderr.strip().splitlines()
        c.check("the graph service on the same volume: exit 2 with one line naming it as not writable",
                r.returncode == 2 and lines == ["gmi-graph: invalid configuration: KUZU_DB_PATH directory /srv/kuzu is "
                                                "not writable by uid 10001: Permission denied"],
                f"rc={r.returncode} {r.stderr[-600:]}")
    except (Abort, Exception, KeyboardInterrupt) as e:  # noqa: BLE001
        report_abort(c, stack, "smoke run", e, tail=30)
    finally:
        if not a.keep:
            stack.run("down", "-v", "--remove-orphans", check=False)
        subprocess.run([docker_bin(), "volume", "rm", "-f", root_volume], capture_output=True)
    print(f"{c.passed} passed, {c.failed} failed" + (f", {c.skipped} skipped" if c.skipped else ""))
    if c.skipped and not a.allow_skipped and not c.failed:
        print(f"exit 1: {c.skipped} checks were skipped (pass --allow-skipped to accept that)")
    return 0 if c.failed == 0 and (c.skipped == 0 or a.allow_skipped) else 1


if __name__ == "__main__":
    sys.exit(main())
