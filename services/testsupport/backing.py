"""Real Postgres and Redis for tests, no mocks.

If TEST_DATABASE_URL / TEST_REDIS_URL are set (CI, a Dagger service binding), those are used as they are. Otherwise a
throw-away Postgres (Debian postgresql-15: initdb + postgres) and Redis (redis-server) are started on loopback, on
non-default ports, in a temporary directory, and stopped afterwards. As root, Postgres runs as the `postgres` user
(it refuses to run as root). `stoppable_redis()` gives a Redis that a test may stop under a running service: a
redis-server of its own, or with TEST_REDIS_URL a relay in front of it that the test can cut.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


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


class RedisServer:
    """A throw-away redis-server on a fixed loopback port that a test can stop and start again under a running
    service (no persistence: a restarted server is empty, as the compose stack's cache is)."""

    def __init__(self):
        exe = shutil.which("redis-server")
        if not exe:
            raise RuntimeError("redis-server not found: apt-get install redis-server (or set TEST_REDIS_URL)")
        self._exe = exe
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._tmp = Path(tempfile.mkdtemp(prefix="gmi-redis-"))
        self._proc: subprocess.Popen | None = None

    def start(self) -> "RedisServer":
        self._proc = subprocess.Popen([self._exe, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                                       "--appendonly", "no", "--dir", str(self._tmp), "--protected-mode", "yes"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port, self._proc, "redis-server")
        return self

    def stop(self) -> None:
        """Stops the server and waits until its port refuses connections."""
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._tmp, ignore_errors=True)


@contextmanager
def redis_server():
    """A RedisServer of its own (never TEST_REDIS_URL: the caller stops it), removed afterwards."""
    server = RedisServer()
    try:
        yield server.start()
    finally:
        server.close()


class RedisRelay:
    """A TCP relay on loopback in front of a Redis that is not ours to stop (TEST_REDIS_URL: a CI service container,
    a Dagger service binding). stop() closes the listener and every relayed connection, so to a client Redis is gone
    exactly as when its server stops: open connections are cut, new ones refused. start() listens again on the same
    port. The data stays in the real Redis (like a restart with persistence)."""

    def __init__(self, upstream_url: str):
        u = urlsplit(upstream_url)
        self._upstream = (u.hostname or "localhost", u.port or 6379)
        self.port = free_port()
        auth = u.netloc.rpartition("@")[0]
        self.url = urlunsplit(u._replace(netloc=(auth + "@" if auth else "") + f"127.0.0.1:{self.port}"))
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> "RedisRelay":
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(16)
        self._listener = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()
        return self

    def _accept(self, ls: socket.socket) -> None:
        while True:
            try:
                client, _ = ls.accept()
            except OSError:  # the listener was closed by stop()
                return
            try:
                upstream = socket.create_connection(self._upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self) -> None:
        if self._listener is not None:
            try:  # wakes the accept() blocked in the relay's thread (close alone would leave the port listening)
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._conns = self._conns, set()
        for sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        self.stop()


@contextmanager
def stoppable_redis():
    """A Redis a test may stop and start under a running service (`.url`, `.stop()`, `.start()`): a redis-server of its
    own when this machine runs the backing servers, else a RedisRelay in front of TEST_REDIS_URL."""
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        with redis_server() as server:
            yield server
        return
    relay = RedisRelay(url)
    try:
        yield relay.start()
    finally:
        relay.close()


@contextmanager
def redis():
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    with redis_server() as server:
        yield server.url
