"""The service as its image runs it: `python -m app` validates settings at start and fails with one clear line."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from backing import free_port

SERVICE = Path(__file__).resolve().parent.parent
# graphmemory_common sits beside `app` in the image; here it is services/common (conftest.py puts it on sys.path)
COMMON = SERVICE.parent / "common"


def run(env: dict[str, str], timeout: float = 20) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")} | {"PYTHONPATH": str(COMMON)}
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


# The image runs the service as uid 10001; `make test` and the image's test stage run this suite as root, which
# ignores directory modes. So as root the service's start is run as that user: the interpreter starts as root (its
# files may sit where uid 10001 cannot read, e.g. a pyenv under /root), loads the app, then drops to uid/gid 10001
# and no supplementary groups before `python -m app`'s main() validates the settings.
SERVICE_UID = 10001
AS_SERVICE_USER = f"""
import os, sys
import app.__main__, app.settings, app.graph, graphmemory_common.logs
os.setgroups([]); os.setgid({SERVICE_UID}); os.setuid({SERVICE_UID})
assert os.getuid() == os.geteuid() == {SERVICE_UID} and os.getgroups() == []
sys.exit(app.__main__.main())
"""


def run_as_service_user(env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")} | {"PYTHONPATH": str(COMMON)}
    return subprocess.run([sys.executable, "-c", AS_SERVICE_USER], cwd=SERVICE, env=base | env,
                          capture_output=True, text=True, timeout=20)


def test_existing_directory_the_service_user_cannot_write(tmp_path):
    """An existing KUZU_DB_PATH (e.g. a volume owned by root) that the service's user may not write: the write probe
    of app/settings.py stops the start, naming the directory and the uid."""
    env = {"DATABASE_URL": "postgresql://u:p@127.0.0.1:1/db"}
    if os.geteuid() == 0:
        # pytest's tmp_path is private to root (0700): use a folder uid 10001 may enter but not write, owned by root
        parent = Path(tempfile.mkdtemp(prefix="gmi-kuzu-"))
        try:
            parent.chmod(0o755)
            store = parent / "kuzu"
            store.mkdir(mode=0o755)
            uid, r = SERVICE_UID, run_as_service_user(env | {"KUZU_DB_PATH": str(store)})
            assert store.is_dir() and store.stat().st_uid == 0
        finally:
            shutil.rmtree(parent, ignore_errors=True)
    else:
        store = tmp_path / "kuzu"
        store.mkdir(mode=0o500)
        uid, r = os.getuid(), run(env | {"KUZU_DB_PATH": str(store)})
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [
        f"gmi-api: invalid configuration: KUZU_DB_PATH directory {store} is not writable by uid {uid}: Permission denied"
    ], r.stderr


def test_missing_settings_named(tmp_path):
    r = run({"KUZU_DB_PATH": str(tmp_path), "BOOTSTRAP_API_KEY": "short"})
    assert r.returncode == 2
    assert r.stderr.strip() == "gmi-api: invalid configuration: DATABASE_URL is required but not set"
    r = run({"KUZU_DB_PATH": str(tmp_path), "DATABASE_URL": "mysql://x", "BOOTSTRAP_API_KEY": "short"})
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "DATABASE_URL must start with postgresql://" in r.stderr


def test_serves_and_is_ready(tmp_path, pg_url, redis_url):
    port = free_port()
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")} | {"PYTHONPATH": str(COMMON)}
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
                assert time.monotonic() - t0 < 120, "not ready after 120 s (a hang guard, not a speed target)"
                time.sleep(0.1)
    finally:
        p.terminate()
        p.wait(10)
    assert p.returncode in (0, -15)  # uvicorn re-raises the SIGTERM it handled
