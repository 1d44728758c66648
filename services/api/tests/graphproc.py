"""The graph service as its image runs it (`python -m app graph`), as a child process on a loopback port: what the API's
tests call through GRAPH_URL, and what they stop and start again to show a restart does not fail requests."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from backing import free_port

SERVICE = Path(__file__).resolve().parent.parent
COMMON = SERVICE.parent / "common"


def service_env(extra: dict[str, str]) -> dict[str, str]:
    """A clean environment for `python -m app` (no settings leak in from the test run's own)."""
    # (COVERAGE_*: a coverage run measures the child processes too)
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG") or k.startswith("COVERAGE_")}
    return base | {"PYTHONPATH": str(COMMON)} | extra


class GraphProcess:
    def __init__(self, db_path: Path, port: int | None = None, lock_wait: float = 60):
        self.db_path = db_path
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.lock_wait = lock_wait
        self.proc: subprocess.Popen | None = None

    def start(self, wait: bool = True) -> "GraphProcess":
        env = service_env({"KUZU_DB_PATH": str(self.db_path), "GRAPH_PORT": str(self.port), "HOST": "127.0.0.1",
                           "GRAPH_LOCK_WAIT_SECONDS": str(self.lock_wait), "LOG_LEVEL": "warning"})
        self.proc = subprocess.Popen([sys.executable, "-m", "app", "graph"], cwd=SERVICE, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if wait:
            self.wait_ready()
        return self

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ready", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def wait_ready(self, timeout: float = 60) -> float:
        """Seconds until /ready answers 200 (fails if the process exits or a hang guard passes)."""
        t0 = time.monotonic()
        while not self.ready():
            assert self.proc is not None and self.proc.poll() is None, self.proc.stderr.read().decode()
            assert time.monotonic() - t0 < timeout, f"graph service not ready after {timeout} s (a hang guard)"
            time.sleep(0.05)
        return time.monotonic() - t0

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """Stops the process (SIGTERM: uvicorn's graceful shutdown) and returns its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc, self.proc = self.proc.returncode, None
        return rc


class ApiProcess:
    """The API as its image runs it (`python -m app`) with GRAPH_URL, on a loopback port; its log lines (stdout and
    stderr) go to a file the test can read."""

    def __init__(self, graph_url: str, pg_url: str, redis_url: str, log_file: Path, **extra: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_file = log_file
        self.env = service_env({"GRAPH_URL": graph_url, "DATABASE_URL": pg_url, "REDIS_URL": redis_url,
                                "PORT": str(self.port), "HOST": "127.0.0.1", "BOOTSTRAP_API_KEY": "x" * 20,
                                "KUZU_DB_PATH": "/nonexistent/kuzu", **extra})
        self.proc: subprocess.Popen | None = None

    def start(self) -> "ApiProcess":
        out = open(self.log_file, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "app"], cwd=SERVICE, env=self.env, stdout=out,
                                     stderr=subprocess.STDOUT)
        t0 = time.monotonic()
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            assert self.proc.poll() is None, self.log_file.read_text()
            assert time.monotonic() - t0 < 60, "API not serving after 60 s (a hang guard)"
            time.sleep(0.05)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc, self.proc = self.proc.returncode, None
        return rc
