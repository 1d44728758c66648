"""GraphMemory-IDE dashboard: graph counts, recent memories and analytics, read from the API and analytics
services (API_URL, ANALYTICS_URL). A service that is down shows as a message on the page, never a stack trace.
Tables are rendered with st.table (plain HTML) so their text is on the page for people, screen readers and tests."""
from __future__ import annotations

import pandas as pd
import streamlit as st

import tracing
from sources import Sources

st.set_page_config(page_title="GraphMemory-IDE", page_icon=":material/hub:", layout="wide")
src = Sources.from_env()

st.title("GraphMemory-IDE")
st.caption(f"API: {src.api_url} · Analytics: {src.analytics_url}")
if st.button("Refresh"):
    st.rerun()

with tracing.page():  # one trace per page run when OTEL_EXPORTER_OTLP_ENDPOINT is set (tracing.py)
    status, status_err = src.status()
    recent, recent_err = src.recent(20)
    summary, analytics_err = src.analytics(10)

st.header("Memory graph")
if status_err:
    st.error(f"API service unavailable ({src.api_url}): {status_err}. Counts and recent memories cannot be shown.")
else:
    c1, c2, c3 = st.columns(3)
    c1.metric("Memories", status["memories"])
    c2.metric("Links", status["links"])
    c3.metric("Projects", status["projects"])

st.header("Recent memories")
if recent_err:
    if not status_err:
        st.error(f"API service unavailable ({src.api_url}): {recent_err}.")
elif not recent:
    st.info("No memories yet: create one with POST /memories on the API.")
else:
    df = pd.DataFrame([{"id": m["id"][:8], "text": m["text"][:120], "tags": ", ".join(m["tags"]),
                        "project": m["project"], "created": m["created_at"][:19].replace("T", " ")} for m in recent])
    st.table(df.set_index("id"))

st.header("Analytics")
if analytics_err:
    st.error(f"Analytics service unavailable ({src.analytics_url}): {analytics_err}. Charts cannot be shown.")
else:
    comps = summary["components"]
    a1, a2, a3 = st.columns(3)
    a1.metric("Connected components", comps["count"])
    a2.metric("Largest component", comps["sizes"][0] if comps["sizes"] else 0)
    a3.metric("Tagged topics", len(summary["top_tags"]))
    left, right = st.columns(2)
    with left:
        st.subheader("Top tags")
        if summary["top_tags"]:
            tags = pd.DataFrame(summary["top_tags"]).set_index("tag")
            st.bar_chart(tags, y="count", horizontal=True, sort="-count")
            st.table(tags)
        else:
            st.info("No tags yet.")
    with right:
        st.subheader("Degree centrality")
        if summary["degree_centrality"]:
            cent = pd.DataFrame(summary["degree_centrality"])
            cent["id"] = cent["id"].str[:8]
            st.bar_chart(cent.set_index("id"), y="centrality", sort="-centrality")
            st.table(cent.set_index("id"))
        else:
            st.info("No memories yet.")
    if summary["projects"]:
        st.subheader("Memories per project")
        st.bar_chart(pd.DataFrame({"memories": summary["projects"]}))
