"""Reads for the dashboard: the API (counts, recent memories) and the analytics service. Each read returns
(data, None) or (None, a short reason) and never raises, so the page can say which service is down."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import requests


@dataclass(frozen=True)
class Sources:
    api_url: str
    analytics_url: str
    timeout: float = 3.0

    @classmethod
    def from_env(cls) -> "Sources":
        return cls(os.environ.get("API_URL", "http://localhost:8000").rstrip("/"),
                   os.environ.get("ANALYTICS_URL", "http://localhost:8002").rstrip("/"),
                   float(os.environ.get("DASHBOARD_TIMEOUT_SECONDS", "3")))

    def _get(self, base: str, path: str, params: dict[str, Any] | None = None) -> tuple[Any, str | None]:
        try:
            r = requests.get(base + path, params=params, timeout=self.timeout)
        except requests.RequestException as e:
            reason = type(e).__name__
            if isinstance(e, requests.ConnectionError):
                reason = "connection refused or host unreachable"
            elif isinstance(e, requests.Timeout):
                reason = f"no answer within {self.timeout:g}s"
            return None, reason
        if r.status_code != 200:
            try:
                detail = r.json().get("detail", "")
            except ValueError:
                detail = ""
            return None, f"HTTP {r.status_code}" + (f": {detail}" if isinstance(detail, str) and detail else "")
        try:
            return r.json(), None
        except ValueError:
            return None, "answer was not JSON"

    def status(self):
        return self._get(self.api_url, "/status")

    def recent(self, limit: int = 20):
        return self._get(self.api_url, "/memories", {"limit": limit})

    def analytics(self, top: int = 10):
        return self._get(self.analytics_url, "/analytics/summary", {"top": top})
