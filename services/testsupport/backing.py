"""Real Postgres and Redis for tests, no mocks.

If TEST_DATABASE_URL / TEST_REDIS_URL are set (CI, a Dagger service binding), those are used as they are. Otherwise a
throw-away Postgres (Debian postgresql-15: initdb + postgres) and Redis (redis-server) are started on loopback, on
non-default ports, in a temporary directory, and stopped afterwards. As root, Postgres runs as the `postgres` user
(it refuses to run as root).
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout}s")


def _stop(proc: subprocess.Popen, tmp: Path, grace: float) -> None:
    """Stops a server started for the tests (TERM, then KILL after `grace` seconds) and removes its folder."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
    shutil.rmtree(tmp, ignore_errors=True)


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or ([shutil.which(name)] if shutil.which(name) else [])
    if not found:
        raise RuntimeError(f"{name} not found: apt-get install postgresql-15 (or set TEST_DATABASE_URL)")
    return found[-1]


@contextmanager
def postgres():
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    tmp = Path(tempfile.mkdtemp(prefix="gmi-pg-"))
    data, port = tmp / "data", free_port()
    as_user: list[str] = []
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(tmp, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    (tmp / "pw").write_text("gmi-test\n")
    os.chmod(tmp / "pw", 0o644)
    subprocess.run([*as_user, _pg_bin("initdb"), "-D", str(data), "-U", "gmi", "--auth=scram-sha-256",
                    f"--pwfile={tmp / 'pw'}", "-E", "UTF8", "--no-sync"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    proc = subprocess.Popen([*as_user, _pg_bin("postgres"), "-D", str(data), "-p", str(port),
                             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={tmp}",
                             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
                            stdout=subprocess.DEVNULL, stderr=open(tmp / "log", "wb"))
    try:
        _wait_port(port, proc, "postgres")
        url = f"postgresql://gmi:gmi-test@127.0.0.1:{port}/postgres"
        for _ in range(50):  # the port opens slightly before the server accepts logins
            r = subprocess.run([_pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True)
            if r.returncode == 0:
                break
            time.sleep(0.1)
        yield url
    finally:
        _stop(proc, tmp, grace=15)


@contextmanager
def redis():
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    exe = shutil.which("redis-server")
    if not exe:
        raise RuntimeError("redis-server not found: apt-get install redis-server (or set TEST_REDIS_URL)")
    tmp = Path(tempfile.mkdtemp(prefix="gmi-redis-"))
    port = free_port()
    proc = subprocess.Popen([exe, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
                             "--dir", str(tmp), "--protected-mode", "yes"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, proc, "redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop(proc, tmp, grace=10)
