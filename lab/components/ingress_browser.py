"""Opens a page through the lab's ingress in headless Chromium, the way services/smoke/browser.py reads the dashboard,
and prints what a person sees as JSON: {"text", "missing", "metrics", "attempts"}. Used by lab/components/ingress.test.ts.

    ingress_browser.py URL ADDRESS CA|- MIN_METRICS EXPECT...

It waits until every EXPECT string is on the page and at least MIN_METRICS metric tiles are drawn.

The page's hosts are not in any DNS: Chromium maps every host to ADDRESS (--host-resolver-rules). The lab CA is trusted
for this browser only: Chromium on Linux reads trust anchors from the NSS database in $HOME/.pki/nssdb, so the script
gives Chromium a throw-away HOME whose database holds the CA (certutil, Debian's libnss3-tools), or none when CA is "-".
Nothing is added to the system's trust.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services" / "smoke"))
import browser  # noqa: E402  (services/smoke/browser.py)


def nss_home(ca: str | None) -> str:
    """A HOME whose NSS database trusts `ca` for TLS servers (an empty database when None)."""
    home = tempfile.mkdtemp(prefix="gmi-ingress-home-")
    db = Path(home) / ".pki" / "nssdb"
    db.mkdir(parents=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{db}", "--empty-password"], check=True, capture_output=True)
    if ca:
        subprocess.run(["certutil", "-A", "-d", f"sql:{db}", "-n", "graphmemory-lab-ingress-ca", "-t", "C,,", "-i", ca],
                       check=True, capture_output=True)
    return home


def chromium_mapping(address: str, home: str) -> str:
    """A `chromium` in front of Debian's that resolves every host to `address` (browser.py finds it on PATH)."""
    real = browser.find_chromium()
    wrapper = Path(home) / "bin" / "chromium"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nexec {real} "--host-resolver-rules=MAP * {address}" "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper.parent)


def main() -> int:
    url, address, ca, min_metrics, *expect = sys.argv[1:]
    home = nss_home(None if ca == "-" else ca)
    os.environ["HOME"] = home
    os.environ["PATH"] = f"{chromium_mapping(address, home)}:{os.environ['PATH']}"
    try:
        with browser.Page() as page:
            # a second navigation when the first shows nothing in time: on this shared machine (load 40) the first
            # page load of a fresh profile sometimes stays blank (the HTML served, its scripts cancelled by the
            # browser); the attempts are reported, and a second blank page fails the test
            for attempt in (1, 2):
                text, missing = page.open(url, expect, timeout=60, drawn='[data-testid="stMetric"]', min_drawn=int(min_metrics))
                if not missing:
                    break
            print(json.dumps({"text": text, "missing": missing, "metrics": page.metrics(), "attempts": attempt}))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
