"""Backups (app/backup.py) and the graph service's snapshot and restore (app/graph.py), on real Kuzu databases and a
real graph service process. The object store round trip runs in the lab (lab/components/backup.test.ts)."""
from __future__ import annotations

import asyncio
import json
import tarfile
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from graphproc import GraphProcess

from app import backup
from app.graph import Graph, GraphError


def open_graph(folder: Path) -> Graph:
    folder.mkdir(parents=True, exist_ok=True)
    return Graph(folder / "memory.kuzu", 64)


def fill(g: Graph) -> list[str]:
    async def go():
        a = await g.create_memory("first memory", ["x"], "p1")
        b = await g.create_memory("second memory", ["y", "z"], "p2")
        assert await g.link(a["id"], b["id"], "relates")
        return [a["id"], b["id"]]
    return asyncio.run(go())


def state(g: Graph) -> dict:
    return asyncio.run(g.export())


def test_snapshot_then_restore_into_another_database_gives_the_same_graph(tmp_path: Path):
    src = open_graph(tmp_path / "a")
    fill(src)
    archive, taken = src.snapshot()
    assert datetime.fromisoformat(taken).tzinfo is not None
    assert not (tmp_path / "a" / ".snapshot").exists()  # the export folder is gone, the archive stays for the caller
    dst = open_graph(tmp_path / "b")
    asyncio.run(dst.create_memory("to be replaced", [], "old"))
    assert dst.restore(archive) == {"memories": 2, "links": 1}
    assert state(dst) == state(src)
    # the restored database takes writes, and the replaced one was kept aside
    asyncio.run(dst.create_memory("after restore", [], "p3"))
    assert asyncio.run(dst.counts())["memories"] == 3
    assert (tmp_path / "b" / ".before-restore" / "memory.kuzu").exists()
    src.close()
    dst.close()


def test_a_restore_of_a_broken_archive_changes_nothing(tmp_path: Path):
    g = open_graph(tmp_path)
    fill(g)
    before = state(g)
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not a tar archive")
    with pytest.raises(GraphError, match="does not import"):
        g.restore(bad)
    assert state(g) == before
    assert not (tmp_path / ".restore").exists()
    g.close()


def test_the_graph_service_streams_a_snapshot_and_restores_one(tmp_path: Path):
    proc = GraphProcess(tmp_path / "svc").start()
    try:
        with httpx.Client(base_url=proc.url, timeout=30) as c:
            for text in ("one", "two"):
                assert c.post("/ops/create_memory", json={"text": text, "tags": [], "project": "p"}).status_code == 200
            r = c.get("/backup/snapshot")
            assert r.status_code == 200 and r.headers["x-snapshot-taken"]
            archive = tmp_path / "graph.tar.gz"
            archive.write_bytes(r.content)
            assert backup.test_restore_graph(archive) == 2
            c.post("/ops/create_memory", json={"text": "three", "tags": [], "project": "p"})
            r = c.post("/backup/restore", content=archive.read_bytes())
            assert r.status_code == 200, r.text
            assert r.json() == {"memories": 2, "links": 0}
            assert c.post("/ops/counts").json()["result"]["memories"] == 2
            assert c.post("/backup/restore", content=b"garbage").status_code == 422
            assert c.post("/ops/counts").json()["result"]["memories"] == 2
    finally:
        proc.stop()


def make_backup(tmp_path: Path) -> tuple[Path, dict]:
    g = open_graph(tmp_path / "db")
    fill(g)
    archive, _ = g.snapshot()
    g.close()
    folder = tmp_path / "b"
    folder.mkdir()
    archive.rename(folder / "graph.tar.gz")
    (folder / "postgres.dump").write_bytes(backup.PG_MAGIC + b"\x01\x0e rest of a dump")
    manifest = backup.manifest_for("20261205T093000Z", {f: folder / f for f in backup.FILES}, {})
    return folder, manifest


def test_a_backup_verifies_against_its_manifest_and_test_restores(tmp_path: Path):
    folder, manifest = make_backup(tmp_path)
    backup.check_manifest(json.loads(json.dumps(manifest)), "20261205T093000Z")
    assert backup.verify_files(manifest, folder, "20261205T093000Z") == {"memories": 2}


def test_a_changed_byte_is_a_corrupt_backup(tmp_path: Path):
    folder, manifest = make_backup(tmp_path)
    data = bytearray((folder / "postgres.dump").read_bytes())
    data[-1] ^= 1
    (folder / "postgres.dump").write_bytes(bytes(data))
    with pytest.raises(backup.BackupError, match="postgres.dump do not match the sha256") as e:
        backup.verify_files(manifest, folder, "20261205T093000Z")
    assert e.value.code == 4


def test_a_graph_that_does_not_import_is_a_corrupt_backup(tmp_path: Path):
    folder, _ = make_backup(tmp_path)
    with tarfile.open(folder / "graph.tar.gz", "w:gz") as t:  # a valid archive without Kuzu's export in it
        t.add(folder / "postgres.dump", arcname="schema.cypher")
    manifest = backup.manifest_for("20261205T093000Z", {f: folder / f for f in backup.FILES}, {})
    with pytest.raises(backup.BackupError, match="does not restore into a scratch database") as e:
        backup.verify_files(manifest, folder, "20261205T093000Z")
    assert e.value.code == 4


@pytest.mark.parametrize("manifest", [None, {}, {"name": "other", "files": {}},
                                      {"name": "20261205T093000Z", "files": {"postgres.dump": {"size": 1, "sha256": "x"}}}])
def test_a_manifest_without_every_file_and_sum_is_corrupt(manifest):
    with pytest.raises(backup.BackupError) as e:
        backup.check_manifest(manifest, "20261205T093000Z")
    assert e.value.code == 4


def test_retention_keeps_the_newest_of_each_of_7_days_and_4_weeks():
    now = datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)  # a Saturday
    hourly_today = [f"20261205T{h:02d}0000Z" for h in range(12)]
    daily = [f"202611{d:02d}T230000Z" for d in range(1, 31)] + [f"202612{d:02d}T230000Z" for d in range(1, 5)]
    keep = backup.to_keep(hourly_today + daily, now, 7, 4)
    # the last 7 days: today's newest and the 6 days before
    days = {"20261205T110000Z", "20261204T230000Z", "20261203T230000Z", "20261202T230000Z", "20261201T230000Z",
            "20261130T230000Z", "20261129T230000Z"}
    # the last 4 ISO weeks: this week's newest (today's), then each earlier week's newest (its Sunday's)
    weeks = {"20261129T230000Z", "20261122T230000Z", "20261115T230000Z"}
    assert keep == days | weeks


def test_retention_always_keeps_the_newest_even_when_it_is_old():
    assert backup.to_keep(["20200101T000000Z"], datetime(2026, 12, 5, tzinfo=timezone.utc), 7, 4) == {"20200101T000000Z"}


def test_missing_configuration_is_one_message_and_exit_code_2():
    with pytest.raises(backup.BackupError, match="BACKUP_S3_BUCKET, BACKUP_S3_CREDENTIALS_DIR") as e:
        backup.Config.from_env({"POD_NAMESPACE": "ns"})
    assert e.value.code == 2
    cfg = backup.Config.from_env({"BACKUP_S3_BUCKET": "b", "BACKUP_S3_CREDENTIALS_DIR": "/c", "POD_NAMESPACE": "graphmemory-dev"})
    assert (cfg.prefix, cfg.endpoint, cfg.keep_daily, cfg.keep_weekly) == ("graphmemory-dev", None, 7, 4)


def test_the_command_line_refuses_unknown_commands(capsys, monkeypatch, tmp_path: Path):
    monkeypatch.setenv("BACKUP_S3_BUCKET", "b")
    monkeypatch.setenv("BACKUP_S3_CREDENTIALS_DIR", str(tmp_path))
    monkeypatch.setenv("POD_NAMESPACE", "ns")
    monkeypatch.setattr(backup, "TERMINATION_LOG", tmp_path / "termination-log")
    assert backup.main(["nonsense"]) == 2
    assert "unknown arguments nonsense" in capsys.readouterr().err
    assert json.loads((tmp_path / "termination-log").read_text())["code"] == 2


def test_an_archive_that_writes_outside_its_folder_is_refused(tmp_path: Path):
    g = open_graph(tmp_path / "db")
    fill(g)
    evil = tmp_path / "evil.tar.gz"
    (tmp_path / "x").write_text("x")
    with tarfile.open(evil, "w:gz") as t:
        t.add(tmp_path / "x", arcname="../../outside")
    with pytest.raises(GraphError, match="unexpected entry"):
        g.restore(evil)
    assert not (tmp_path / "outside").exists() and asyncio.run(g.counts())["memories"] == 2
    g.close()
