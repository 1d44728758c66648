"""Read a page the way a person sees it: headless Chromium (Debian's `chromium`) driven over the DevTools protocol.

Streamlit renders in the browser from a websocket session, so the served HTML holds no data and `--dump-dom` returns
before the session has drawn anything. Instead this opens the page, polls `document.body.innerText` until every
expected string is there (or the time is up) and can save a PNG screenshot of what was on screen.
"""
from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from websockets.sync.client import connect


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "headless_shell"):
        if path := shutil.which(name):
            return path
    raise RuntimeError("no Chromium found: apt-get install chromium")


class Page:
    def __init__(self, width: int = 1400, height: int = 2200):
        self._dir = tempfile.mkdtemp(prefix="gmi-chromium-")
        self._proc = subprocess.Popen(
            [find_chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--no-default-browser-check", "--remote-debugging-port=0",
             "--remote-debugging-address=127.0.0.1", f"--user-data-dir={self._dir}",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self._dir) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self._proc.poll() is not None:
                self.close()
                raise RuntimeError("Chromium did not open its DevTools port")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
            target = next(t for t in json.load(r) if t["type"] == "page")
        self._ws = connect(target["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        self._ids = itertools.count(1)

    def call(self, method: str, **params):
        mid = next(self._ids)
        self._ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            msg = json.loads(self._ws.recv(timeout=30))
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def text(self) -> str:
        r = self.call("Runtime.evaluate", expression="document.body ? document.body.innerText : ''",
                      returnByValue=True)
        return r.get("result", {}).get("value") or ""

    def count(self, selector: str) -> int:
        r = self.call("Runtime.evaluate", expression=f"document.querySelectorAll({json.dumps(selector)}).length",
                      returnByValue=True)
        return int(r.get("result", {}).get("value") or 0)

    def _eval(self, expression: str):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"page script failed: {r['exceptionDetails'].get('text')}")
        return r.get("result", {}).get("value")

    def metrics(self) -> dict[str, str]:
        """The st.metric tiles on the page as {label: value}, the text a person reads on each tile."""
        pairs = self._eval("""Array.from(document.querySelectorAll('[data-testid="stMetric"]')).map(m => [
            (m.querySelector('[data-testid="stMetricLabel"]') || {innerText: ''}).innerText.trim(),
            (m.querySelector('[data-testid="stMetricValue"]') || {innerText: ''}).innerText.trim()])""") or []
        return dict(pairs)

    def tables(self) -> list[list[list[str]]]:
        """Every st.table on the page: rows (header row first) of cell texts."""
        return self._eval("""Array.from(document.querySelectorAll('[data-testid="stTable"] table')).map(t =>
            Array.from(t.querySelectorAll('tr')).map(r =>
                Array.from(r.querySelectorAll('th, td')).map(c => c.innerText.trim())))""") or []

    def open(self, url: str, expect: list[str], timeout: float = 45, drawn: str | None = None,
             min_drawn: int = 0) -> tuple[str, list[str]]:
        """Navigate, wait until all `expect` strings are on the page and at least `min_drawn` elements match the CSS
        selector `drawn` (e.g. rendered chart marks); returns (text, missing)."""
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        text, missing = "", list(expect)
        while time.monotonic() < deadline:
            text = self.text()
            missing = [e for e in expect if e not in text]
            if drawn and self.count(drawn) < min_drawn:
                missing.append(f"{min_drawn} x {drawn}")
            if not missing and "Running..." not in text:
                return self.text(), []
            time.sleep(0.5)
        return text, missing

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self._ws.close()
        except Exception:  # noqa: BLE001
            pass
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


if __name__ == "__main__":
    import sys

    with Page() as p:
        t, miss = p.open(sys.argv[1], sys.argv[2:])
        print(t)
        print("missing:", miss)
