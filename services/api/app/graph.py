"""The memory graph on an embedded Kuzu database.

Kuzu is embedded: one process owns the database file. Every query runs on one connection, serialised by a lock
and executed in a worker thread so the event loop never blocks on disk. In Kubernetes and compose that process is
the graph service (`python -m app graph`, app/graph_server.py), which the API replicas call (app/graph_client.py);
the API's tests also run it in-process.
"""
from __future__ import annotations

import logging
import shutil
import tarfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import anyio.to_thread
import kuzu

from .metrics import timed

SCHEMA = (
    "CREATE NODE TABLE IF NOT EXISTS Memory(id STRING, text STRING, project STRING, tags STRING[], "
    "created_at TIMESTAMP, PRIMARY KEY(id))",
    "CREATE REL TABLE IF NOT EXISTS LINKS(FROM Memory TO Memory, kind STRING, created_at TIMESTAMP)",
)
FIELDS = "m.id, m.text, m.project, m.tags, m.created_at"


log = logging.getLogger("gmi.graph")


class GraphError(Exception):
    pass


def _locked(err: Exception) -> bool:
    """Whether Kuzu refused to open the database because another process holds its lock."""
    return "lock" in str(err).lower()


def safe_extract(archive: Path, dest: Path) -> None:
    """Extracts a tar.gz of regular files and folders only, every one inside dest (Python 3.11.2, Debian bookworm's,
    has no tarfile extraction filters); anything else raises ValueError."""
    with tarfile.open(archive, "r:gz") as t:
        members = t.getmembers()
        for m in members:
            target = (dest / m.name).resolve()
            if not (m.isfile() or m.isdir()) or not target.is_relative_to(dest.resolve()):
                raise ValueError(f"unexpected entry {m.name!r} in the archive")
        t.extractall(dest, members=members)


def _row(r: list[Any]) -> dict[str, Any]:
    created = r[4]
    if isinstance(created, datetime) and created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    return {"id": r[0], "text": r[1], "project": r[2], "tags": list(r[3] or []), "created_at": created}


class Graph:
    def __init__(self, path: Path, buffer_pool_mb: int = 256, lock_wait_seconds: float = 0):
        """Opens (or creates) the database. While another process holds its lock (the previous graph pod letting go
        of the volume during a rollout), retries for up to lock_wait_seconds instead of failing at once."""
        self._path = Path(path)
        self._buffer_pool_mb = buffer_pool_mb
        deadline = time.monotonic() + lock_wait_seconds
        while True:
            try:
                self._db = kuzu.Database(str(path), buffer_pool_size=buffer_pool_mb * 1024 * 1024)
                self._conn = kuzu.Connection(self._db)
                break
            except Exception as e:  # kuzu raises RuntimeError with its own text
                if not (_locked(e) and time.monotonic() < deadline):
                    raise GraphError(f"cannot open Kuzu database at {path}: " + " ".join(str(e).split())) from None
                log.warning("Kuzu database at %s is locked by another process; retrying", path)
                time.sleep(0.5)
        self._lock = threading.Lock()
        for stmt in SCHEMA:
            self._conn.execute(stmt)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            self._db.close()

    # -- synchronous core -------------------------------------------------------------------------------------------
    def _q(self, op: str, query: str, params: dict[str, Any] | None = None) -> list[list[Any]]:
        with self._lock, timed("kuzu", op):
            res = self._conn.execute(query, params or {})
            return res.get_all()

    async def q(self, op: str, query: str, params: dict[str, Any] | None = None) -> list[list[Any]]:
        return await anyio.to_thread.run_sync(self._q, op, query, params)

    # -- operations -------------------------------------------------------------------------------------------------
    async def ping(self) -> None:
        await self.q("ping", "RETURN 1")

    async def create_memory(self, text: str, tags: list[str], project: str, mid: str | None = None) -> dict[str, Any]:
        """Creates a memory; with an id given (the API's remote client sends one), a second call with the same id
        returns the memory the first made, so a retried request never writes twice."""
        return await anyio.to_thread.run_sync(self._create_memory, mid or uuid.uuid4().hex, text, tags, project)

    def _create_memory(self, mid: str, text: str, tags: list[str], project: str) -> dict[str, Any]:
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        with self._lock, timed("kuzu", "create_memory"):  # one lock for the lookup and the write: no race between them
            rows = self._conn.execute(f"MATCH (m:Memory {{id: $id}}) RETURN {FIELDS}", {"id": mid}).get_all()
            if not rows:
                rows = self._conn.execute(
                    f"CREATE (m:Memory {{id: $id, text: $text, project: $project, tags: $tags, created_at: $now}}) "
                    f"RETURN {FIELDS}", {"id": mid, "text": text, "project": project, "tags": tags, "now": now},
                ).get_all()
        return _row(rows[0])

    async def get_memory(self, mid: str) -> dict[str, Any] | None:
        rows = await self.q("get_memory", f"MATCH (m:Memory {{id: $id}}) RETURN {FIELDS}", {"id": mid})
        return _row(rows[0]) if rows else None

    async def recent(self, limit: int, project: str | None) -> list[dict[str, Any]]:
        where = "WHERE m.project = $project " if project else ""
        params: dict[str, Any] = {"limit": limit}
        if project:
            params["project"] = project
        rows = await self.q("recent", f"MATCH (m:Memory) {where}RETURN {FIELDS} ORDER BY m.created_at DESC LIMIT $limit",
                            params)
        return [_row(r) for r in rows]

    async def link(self, source: str, target: str, kind: str) -> bool:
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        rows = await self.q(
            "link",
            "MATCH (a:Memory {id: $s}), (b:Memory {id: $t}) "
            "CREATE (a)-[l:LINKS {kind: $kind, created_at: $now}]->(b) RETURN a.id",
            {"s": source, "t": target, "kind": kind, "now": now},
        )
        return bool(rows)

    async def neighbors(self, mid: str, depth: int) -> list[dict[str, Any]]:
        depth = int(depth)  # Kuzu takes path bounds as literals, never as parameters; the route bounds it to 1..5
        rows = await self.q(
            "neighbors",
            f"MATCH (a:Memory {{id: $id}})-[e:LINKS*1..{depth}]-(m:Memory) WHERE m.id <> $id "
            f"RETURN {FIELDS}, min(length(e)) AS d ORDER BY d, m.created_at DESC",
            {"id": mid},
        )
        return [{**_row(r), "distance": r[5]} for r in rows]

    async def search(self, q: str, project: str | None, limit: int) -> list[dict[str, Any]]:
        cond = "(lower(m.text) CONTAINS lower($q) OR list_contains(m.tags, lower($q)))"
        params: dict[str, Any] = {"q": q, "limit": limit}
        if project:
            cond += " AND m.project = $project"
            params["project"] = project
        rows = await self.q("search", f"MATCH (m:Memory) WHERE {cond} RETURN {FIELDS} "
                                      "ORDER BY m.created_at DESC LIMIT $limit", params)
        return [_row(r) for r in rows]

    async def counts(self) -> dict[str, int]:
        n = await self.q("count", "MATCH (m:Memory) RETURN count(m), count(DISTINCT m.project)")
        e = await self.q("count", "MATCH ()-[l:LINKS]->() RETURN count(l)")
        return {"memories": n[0][0], "projects": n[0][1], "links": e[0][0]}

    async def export(self) -> dict[str, Any]:
        nodes = await self.q("export", "MATCH (m:Memory) RETURN m.id, m.project, m.tags ORDER BY m.id")
        edges = await self.q("export", "MATCH (a:Memory)-[l:LINKS]->(b:Memory) RETURN a.id, b.id, l.kind")
        return {
            "nodes": [{"id": r[0], "project": r[1], "tags": list(r[2] or [])} for r in nodes],
            "edges": [{"source": r[0], "target": r[1], "kind": r[2]} for r in edges],
        }

    # -- backup and restore (app/backup.py) -----------------------------------------------------------------------------
    # Consistency: every query and write of this process holds self._lock, and this process is the database's only
    # writer (the API replicas call it), so EXPORT DATABASE run under the lock sees one point in time, with no write
    # in between or during it. Writes wait for the export (seconds for a small graph) instead of failing.
    def snapshot(self) -> tuple[Path, str]:
        """Exports the database (Kuzu's EXPORT DATABASE, parquet) under the write lock into a tar.gz beside the
        database (on its volume: /tmp is small); returns the archive and the time it was taken. The caller deletes it."""
        work = self._path.parent / ".snapshot"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        with self._lock, timed("kuzu", "snapshot"):
            taken = datetime.now(timezone.utc).isoformat()
            self._conn.execute(f"EXPORT DATABASE '{work / 'export'}' (format='parquet')")
        archive = self._path.parent / ".snapshot.tar.gz"
        with tarfile.open(archive, "w:gz") as t:
            t.add(work / "export", arcname=".")
        shutil.rmtree(work, ignore_errors=True)
        return archive, taken

    def restore(self, archive: Path) -> dict[str, int]:
        """Replaces the database with the export in archive (a snapshot's tar.gz). The export is first imported into
        a staging database beside the live one (a failure there changes nothing); then, under the lock, the live
        files are moved aside (to .before-restore/, the previous such copy dropped), the staging ones moved in and the
        database reopened; if that reopen fails, the live files are put back."""
        work = self._path.parent / ".restore"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        try:
            safe_extract(archive, work / "export")
            staged = work / self._path.name
            db = kuzu.Database(str(staged), buffer_pool_size=64 * 1024 * 1024)
            try:
                conn = kuzu.Connection(db)
                conn.execute(f"IMPORT DATABASE '{work / 'export'}'")
                conn.close()
            finally:
                db.close()
        except Exception as e:  # noqa: BLE001 - tarfile and kuzu raise their own types
            shutil.rmtree(work, ignore_errors=True)
            raise GraphError("the backup's graph does not import: " + " ".join(str(e).split())[:300]) from None
        aside = self._path.parent / ".before-restore"
        with self._lock:
            self._conn.close()
            self._db.close()
            shutil.rmtree(aside, ignore_errors=True)
            aside.mkdir()
            live = [p for p in self._path.parent.glob(self._path.name + "*") if p.is_file()]
            for p in live:
                p.rename(aside / p.name)
            for p in work.glob(self._path.name + "*"):
                p.rename(self._path.parent / p.name)
            try:
                self._db = kuzu.Database(str(self._path), buffer_pool_size=self._buffer_pool_mb * 1024 * 1024)
            except Exception:
                for p in self._path.parent.glob(self._path.name + "*"):
                    p.unlink()
                for p in live:
                    (aside / p.name).rename(p)
                self._db = kuzu.Database(str(self._path), buffer_pool_size=self._buffer_pool_mb * 1024 * 1024)
                self._conn = kuzu.Connection(self._db)
                raise GraphError("the restored graph did not open; the previous one is back") from None
            finally:
                shutil.rmtree(work, ignore_errors=True)
            self._conn = kuzu.Connection(self._db)
            n = self._conn.execute("MATCH (m:Memory) RETURN count(m)").get_all()[0][0]
            e = self._conn.execute("MATCH ()-[l:LINKS]->() RETURN count(l)").get_all()[0][0]
        log.info("graph restored: %s memories, %s links (the previous files are in %s)", n, e, aside)
        return {"memories": int(n), "links": int(e)}
