"""The service as its image runs it: `python -m app` validates settings at start and fails with one clear line."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from backing import free_port

SERVICE = Path(__file__).resolve().parent.parent


def run(env: dict[str, str], timeout: float = 20) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return subprocess.run([sys.executable, "-m", "app"], cwd=SERVICE, env=base | env, capture_output=True,
                          text=True, timeout=timeout)


def test_unwritable_kuzu_path_stops_start_with_one_message(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    r = run({"KUZU_DB_PATH": str(blocker / "kuzu"), "DATABASE_URL": "postgresql://u:p@127.0.0.1:1/db"})
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("gmi-api: invalid configuration: KUZU_DB_PATH cannot create directory")


def test_read_only_kuzu_path(tmp_path):
    if os.geteuid() == 0:  # root ignores modes; /proc is read-only for everyone
        path = "/proc/gmi-kuzu"
    else:
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        path = str(ro)
    r = run({"KUZU_DB_PATH": path, "DATABASE_URL": "postgresql://u:p@127.0.0.1:1/db"})
    assert r.returncode == 2 and "KUZU_DB_PATH" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_missing_settings_named(tmp_path):
    r = run({"KUZU_DB_PATH": str(tmp_path), "BOOTSTRAP_API_KEY": "short"})
    assert r.returncode == 2
    assert r.stderr.strip() == "gmi-api: invalid configuration: DATABASE_URL is required but not set"
    r = run({"KUZU_DB_PATH": str(tmp_path), "DATABASE_URL": "mysql://x", "BOOTSTRAP_API_KEY": "short"})
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "DATABASE_URL must start with postgresql://" in r.stderr


def test_serves_and_is_ready(tmp_path, pg_url, redis_url):
    port = free_port()
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env = base | {"KUZU_DB_PATH": str(tmp_path / "k"), "DATABASE_URL": pg_url, "REDIS_URL": redis_url,
                  "PORT": str(port), "HOST": "127.0.0.1", "BOOTSTRAP_API_KEY": "x" * 20}
    p = subprocess.Popen([sys.executable, "-m", "app"], cwd=SERVICE, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    try:
        t0 = time.monotonic()
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert p.poll() is None, p.stderr.read().decode()
                assert time.monotonic() - t0 < 15
                time.sleep(0.1)
    finally:
        p.terminate()
        p.wait(10)
    assert p.returncode in (0, -15)  # uvicorn re-raises the SIGTERM it handled
