from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from backing import free_port
from sources import Sources

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def run(monkeypatch, api_url, analytics_url) -> AppTest:
    monkeypatch.setenv("API_URL", api_url)
    monkeypatch.setenv("ANALYTICS_URL", analytics_url)
    monkeypatch.setenv("DASHBOARD_TIMEOUT_SECONDS", "1")
    at = AppTest.from_file(APP, default_timeout=90)  # a hang guard: the page runs in seconds, but a loaded 2-core machine was seen past 20 s
    at.run()
    assert not at.exception, at.exception
    return at


def test_page_shows_counts_recent_and_analytics(monkeypatch, api, analytics):
    at = run(monkeypatch, api.url, analytics.url)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Memories"] == "2" and metrics["Links"] == "1" and metrics["Connected components"] == "1"
    assert not at.error
    recent = at.table[0].value
    assert list(recent["text"]) == ["Kuzu holds the graph", "Redis caches search"]
    assert "kuzu" in list(at.table[1].value.index)


def test_services_down_show_a_message_not_a_trace(monkeypatch):
    dead = f"http://127.0.0.1:{free_port()}"
    at = run(monkeypatch, dead, dead)
    errors = [e.value for e in at.error]
    assert any(e.startswith("API service unavailable") and "connection refused" in e for e in errors)
    assert any(e.startswith("Analytics service unavailable") for e in errors)
    assert not at.metric and not at.table


def test_only_analytics_down(monkeypatch, api):
    at = run(monkeypatch, api.url, f"http://127.0.0.1:{free_port()}")
    assert [e.value.split(" (")[0] for e in at.error] == ["Analytics service unavailable"]
    assert {m.label for m in at.metric} == {"Memories", "Links", "Projects"}


def test_sources_report_http_errors(api):
    s = Sources(api.url, api.url, 1)
    assert s.analytics() == (None, "HTTP 404")
    data, err = s.status()
    assert err is None and data["memories"] == 2
