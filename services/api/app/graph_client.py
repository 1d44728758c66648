"""The graph as the API replicas see it: the graph service (app/graph_server.py) over HTTP, with the same coroutines
as the embedded Graph (app/graph.py).

A graph pod restart (a rollout of its single-writer Deployment, a deleted pod) must not fail requests: a call that
could not reach the service is retried with a short back-off for up to `retry_seconds`, then fails as
GraphUnavailable (the API answers 503). Which failures are retried:
- the request was never sent (connection refused, connect timeout, no free connection): always;
- the connection broke after it was sent (reset, closed without an answer, read timeout): reads, and
  create_memory, which the API makes idempotent by sending the new memory's id (the service returns the memory a
  first attempt made). A link is not retried then: it could be written twice.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import httpx

from .metrics import timed

log = logging.getLogger("gmi.graph")
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
BROKEN = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.ReadTimeout)
NOT_RETRIED_WHEN_BROKEN = {"link"}


class GraphUnavailable(Exception):
    """The graph service could not be reached within the retry budget."""


class GraphServiceError(Exception):
    """The graph service answered with an error (a bug or a refused operation, not an outage)."""


class RemoteGraph:
    def __init__(self, url: str, timeout: float = 10.0, retry_seconds: float = 20.0):
        self._url = url.rstrip("/")
        self._retry_seconds = retry_seconds
        self._http = httpx.AsyncClient(base_url=self._url, timeout=httpx.Timeout(timeout, connect=min(timeout, 2.0)),
                                       limits=httpx.Limits(max_connections=32, max_keepalive_connections=16))
        self.attempts = 0  # calls sent, retries included (tests read it)

    async def _call(self, op: str, retry_seconds: float | None = None, **args: Any) -> Any:
        budget = self._retry_seconds if retry_seconds is None else retry_seconds
        deadline = time.monotonic() + budget
        delay, tries = 0.05, 0
        while True:
            tries += 1
            self.attempts += 1
            try:
                with timed("kuzu", op):
                    r = await self._http.post(f"/ops/{op}", json=args)
            except NOT_SENT as e:
                err: Exception = e
            except BROKEN as e:
                if op in NOT_RETRIED_WHEN_BROKEN:
                    raise GraphUnavailable(f"graph service at {self._url}: {op} interrupted ({type(e).__name__}); "
                                           "not retried, it may have been written") from None
                err = e
            else:
                if r.status_code != 200:
                    raise GraphServiceError(f"graph service {op}: HTTP {r.status_code}: {r.text[:300]}")
                if tries > 1:
                    log.info("graph service %s answered after %d attempts", op, tries)
                return r.json()["result"]
            if time.monotonic() + delay > deadline:
                raise GraphUnavailable(f"graph service at {self._url} unreachable for {budget:g}s "
                                       f"({tries} attempts, last: {type(err).__name__}: {err})") from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    async def ping(self) -> None:
        await self._call("ping", retry_seconds=0)

    async def create_memory(self, text: str, tags: list[str], project: str) -> dict[str, Any]:
        return await self._call("create_memory", text=text, tags=tags, project=project, mid=uuid.uuid4().hex)

    async def get_memory(self, mid: str) -> dict[str, Any] | None:
        return await self._call("get_memory", mid=mid)

    async def recent(self, limit: int, project: str | None) -> list[dict[str, Any]]:
        return await self._call("recent", limit=limit, project=project)

    async def link(self, source: str, target: str, kind: str) -> bool:
        return await self._call("link", source=source, target=target, kind=kind)

    async def neighbors(self, mid: str, depth: int) -> list[dict[str, Any]]:
        return await self._call("neighbors", mid=mid, depth=depth)

    async def search(self, q: str, project: str | None, limit: int) -> list[dict[str, Any]]:
        return await self._call("search", q=q, project=project, limit=limit)

    async def counts(self) -> dict[str, int]:
        return await self._call("counts")

    async def export(self) -> dict[str, Any]:
        return await self._call("export")

    async def close(self) -> None:
        await self._http.aclose()
