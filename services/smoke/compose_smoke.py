#!/usr/bin/env python3
"""Compose smoke test of the GraphMemory-IDE stack, end to end, as a user meets it.

Brings docker/production/docker-compose.prod.yml up under a throw-away project (its own secrets, volumes and
127.0.0.1 ports), waits for every service to be healthy, then checks: API keys and validation, memories, links,
neighbours, search (and its Redis cache), analytics reflecting the writes, the dashboard page as Chromium renders it
(screenshot in services/smoke/out/), a Postgres outage (/ready 503 naming postgres while /health stays 200), the
dashboard's message when analytics is down, and a start with an unwritable KUZU_DB_PATH. Tears everything down.
Prints one line per check and closes with `N passed, N failed`; exit status 0 only if all passed.

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
SERVICES = ("postgres", "redis", "api", "analytics", "dashboard")


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

    def wait_healthy(self, services, timeout: float = 180) -> float:
        t0 = time.monotonic()
        while True:
            states = {s: self.health(s) for s in services}
            if all(v == "running/healthy" for v in states.values()):
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"not healthy after {timeout:.0f}s: {states}")
            time.sleep(1)


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
class Checks:
    def __init__(self):
        self.passed, self.failed = 0, 0

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
        c.check(f"{image}: runs as non-root user {user or '(none)'}",
                out.returncode == 0 and user not in ("", "0", "root", "0:0", "root:root"), user)


def _terminate(signum, frame):  # turn SIGTERM into an exception so the stack is still torn down
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    signal.signal(signal.SIGTERM, _terminate)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--project", default=f"gmi-smoke-{os.getpid()}")
    ap.add_argument("--keep", action="store_true", help="leave the stack running")
    ap.add_argument("--no-browser", action="store_true", help="skip the Chromium check of the dashboard")
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
    c = Checks()
    print(f"compose: {' '.join(stack.base)}", flush=True)
    for k in ("API_IMAGE", "ANALYTICS_IMAGE", "DASHBOARD_IMAGE", "POSTGRES_IMAGE", "REDIS_IMAGE"):
        print(f"  {k}={os.environ.get(k, '(compose default)')}")
    try:
        check_images(c)
        t0 = time.monotonic()
        stack.run("up", "-d")
        took = stack.wait_healthy(SERVICES)
        c.check(f"stack up and healthy ({time.monotonic() - t0:.1f}s from `up`, {took:.1f}s waiting)", True)

        # -- API --------------------------------------------------------------------------------------------------
        st, body = http("GET", f"{api}/health")
        c.check("api /health 200", st == 200, f"{st} {body}")
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
        if not a.no_browser:
            from browser import Page  # needs websockets and chromium

            with Page() as page:
                expect = ["GraphMemory-IDE", "Memories", "Kuzu keeps the smoke graph", "Redis caches smoke searches",
                          "Connected components", "Top tags", "smoke"]
                text, missing = page.open(dash + "/", expect, drawn="[data-testid=stVegaLiteChart] svg.marks",
                                          min_drawn=3)
                page.screenshot(Path(a.out) / "dashboard.png")
                c.check("dashboard page (Chromium) shows counts, recent memories, analytics, 3 charts drawn",
                        not missing, f"missing {missing}; page text: {text[:400]!r}")
                c.check("dashboard page shows no error or traceback",
                        "Traceback" not in text and "unavailable" not in text, text[:400])

                stack.run("stop", "analytics")
                text, missing = page.open(dash + "/", ["Analytics service unavailable", "Kuzu keeps the smoke graph"])
                page.screenshot(Path(a.out) / "dashboard-analytics-down.png")
                c.check("analytics down: the page says so, API data still shown", not missing and
                        "Traceback" not in text, f"missing {missing}; {text[:400]!r}")
                stack.run("start", "analytics")

        # -- Postgres outage ----------------------------------------------------------------------------------------
        stack.run("stop", "postgres")
        st_r, body_r = wait_for(lambda: (lambda r: (r[0] == 503, r))(http("GET", f"{api}/ready")), 30)[1]
        st_h, _ = http("GET", f"{api}/health")
        c.check("postgres down: /ready 503 naming postgres, /health 200",
                st_r == 503 and body_r["failing"] == ["postgres"] and st_h == 200, f"{st_r} {body_r} health={st_h}")
        st, body = http("POST", f"{api}/memories", {"text": "while postgres is down"}, auth)
        c.check("postgres down: a write is refused with 503 naming postgres",
                st == 503 and "postgres" in body["detail"], f"{st} {body}")
        st, body = http("GET", f"{api}/search?q=kuzu")
        c.check("postgres down: reads still answer", st == 200 and len(body["results"]) == 1, f"{st} {body}")
        stack.run("start", "postgres")
        ok = wait_for(lambda: (http("GET", f"{api}/ready")[0] == 200, None), 60)[0]
        c.check("postgres back: /ready 200 again", ok)

        # -- unwritable KUZU_DB_PATH --------------------------------------------------------------------------------
        api_cid = stack.container("api")
        image = subprocess.run([docker_bin(), "inspect", "-f", "{{.Config.Image}}", api_cid],
                               capture_output=True, text=True).stdout.strip()
        r = subprocess.run([docker_bin(), "run", "--rm", "--read-only", "--tmpfs", "/tmp", "-e",
                            "KUZU_DB_PATH=/srv/kuzu", "-e", "DATABASE_URL=postgresql://u:p@127.0.0.1:1/x", image],
                           capture_output=True, text=True, timeout=60)
        lines = r.stderr.strip().splitlines()
        c.check("unwritable KUZU_DB_PATH: exit 2 with one clear line",
                r.returncode == 2 and len(lines) == 1 and "KUZU_DB_PATH" in lines[0], f"rc={r.returncode} {r.stderr}")
        if lines:
            print(f"     {lines[0]}")
    except (Exception, KeyboardInterrupt) as e:  # noqa: BLE001
        c.check("smoke run completed", False, f"{type(e).__name__}: {e}")
        try:
            print(stack.run("ps", check=False).stdout)
            print(stack.run("logs", "--tail", "30", check=False).stdout[-6000:])
        except Exception:  # noqa: BLE001
            pass
    finally:
        if not a.keep:
            stack.run("down", "-v", "--remove-orphans", check=False)
    print(f"{c.passed} passed, {c.failed} failed")
    return 0 if c.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
