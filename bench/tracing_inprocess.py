"""What tracing costs the API per request, in process: the API image's app built twice (one with tracing installed as
graphmemory_common.tracing does it, spans batched to an in-memory exporter instead of OTLP), driven through ASGI one
request at a time, CPU time per request by process_time, the two in alternating paired batches. Prints the medians and
the paired difference. Runs inside the API image, beside a Redis for the /search route:

    docker network create tcost && docker run -d --rm --name tcost-redis --network tcost $LAB_IMAGE_REDIS redis-server
    docker run --rm -i --network tcost -e REDIS_URL=redis://tcost-redis:6379/0 -e PYTHONPATH=/srv/api -w /srv/api \\
      --entrypoint python $API_IMAGE - /search 'q=bench&limit=10' 300 10 redis < bench/tracing_inprocess.py
    docker rm -f tcost-redis && docker network rm tcost

Arguments: path, query string, requests per batch, rounds, and `redis` to trace the Redis commands too (the Redis
instrumentation patches the library for the whole process, so it is switched on for the traced batches only).
OTEL_TRACES_SAMPLER_ARG (default 0.1, production's) sets the ratio; 0 measures the instrumentation with nothing kept.
docs/monitoring.md, "What tracing costs the API".
"""
from __future__ import annotations

import asyncio
import logging
import os
import statistics
import sys
import time

os.environ.setdefault("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
os.environ.setdefault("OTEL_TRACES_SAMPLER_ARG", "0.1")

from graphmemory_common import logs, tracing  # noqa: E402
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor  # noqa: E402
from opentelemetry.instrumentation.redis import RedisInstrumentor  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from app.main import create_app  # noqa: E402
from app.settings import Settings  # noqa: E402

path, query, n, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
with_redis = sys.argv[5:] == ["redis"]
logs.configure("info", open(os.devnull, "w"))
provider = TracerProvider(resource=Resource.create({"service.name": "api"}))
provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))


def make(traced: bool):
    """The API as create_app makes it (embedded Kuzu in /tmp; Postgres unused by the routes measured)."""
    app = create_app(Settings(kuzu_db_path=f"/tmp/kuzu-{traced}", kuzu_buffer_pool_mb=32,
                              database_url="postgresql://bench:bench@127.0.0.1:9/bench",
                              redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")))
    if traced:
        FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls=tracing.EXCLUDED_URLS,
                                           exclude_spans=["receive", "send"])
    return app


SCOPE = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
         "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
         "headers": [(b"host", b"api")], "client": ("127.0.0.1", 1), "server": ("api", 8000)}


async def one(app) -> None:
    state = {"sent": False, "status": None}

    async def receive():
        if not state["sent"]:
            state["sent"] = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()

    async def send(m):
        if m["type"] == "http.response.start":
            state["status"] = m["status"]

    await app(dict(SCOPE), receive, send)
    assert state["status"] == 200, state


async def main() -> None:
    apps = {"plain": make(False), "traced": make(True)}
    out: dict[str, list[float]] = {k: [] for k in apps}
    async with apps["plain"].router.lifespan_context(apps["plain"]), apps["traced"].router.lifespan_context(apps["traced"]):
        for r in range(rounds):
            for k in (["plain", "traced"] if r % 2 else ["traced", "plain"]):
                if k == "traced" and with_redis:
                    RedisInstrumentor().instrument(tracer_provider=provider)
                for _ in range(50):
                    await one(apps[k])
                t = time.process_time()
                for _ in range(n):
                    await one(apps[k])
                out[k].append((time.process_time() - t) / n * 1e6)
                if k == "traced" and with_redis:
                    RedisInstrumentor().uninstrument()
    d = sorted(b - a for a, b in zip(out["plain"], out["traced"]))
    ratio = os.environ["OTEL_TRACES_SAMPLER_ARG"]
    print(f"GET {path}?{query}, ratio {ratio}, Redis spans {'on' if with_redis else 'off'}: CPU µs per request, median of "
          f"{rounds} batches of {n}: untraced {statistics.median(out['plain']):.0f}, traced {statistics.median(out['traced']):.0f}; "
          f"paired difference {statistics.median(d):+.0f} (quartiles {d[len(d) // 4]:+.0f}…{d[3 * len(d) // 4]:+.0f})")


logging.getLogger().setLevel(logging.INFO)
asyncio.run(main())
