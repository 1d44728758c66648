"""Backups of an environment's stores to S3-compatible object storage, run as `python -m app backup <command>` from
the API's image (k8s/components/backup: the CronJob and the pipeline's backup, backups and restore Jobs).

What is backed up: the memories graph (Kuzu, exported by the graph service, its single writer: app/graph.py
`snapshot`) and Postgres (the API keys; pg_dump's custom format, dumped beside this by the Job's postgres
container). Redis is a cache the API refills: not backed up.

A backup is a folder `<prefix>/<name>/` in the bucket, its name the UTC time it was taken (20261205T093000Z):
`postgres.dump`, `graph.tar.gz`, then `manifest.json` (files, sizes, sha256) written last, so a backup without a
manifest is incomplete, never restored and expired. Each backup is verified after its upload: every file downloaded
again and checked against the manifest, the dump's header read, the graph test-restored into a scratch database.

Commands (exit 0 done; 2 bad configuration; 3 backup missing; 4 backup corrupt; 1 anything else). Each prints
progress lines on stderr and its result as one JSON line on stdout, also written to the container's termination
message (/dev/termination-log) so the pipeline reads it from the pod's status:
    run                 dump the graph, upload with the postgres dump in BACKUP_WORK_DIR, verify, expire old ones
    list                the backups under the prefix: name, time, size, status (complete / incomplete)
    fetch <name|latest> download a backup into BACKUP_WORK_DIR and verify it (checksums, test restore of the graph)
    restore-graph       send the fetched graph to the graph service, which swaps it in (app/graph.py `restore`)
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
FILES = ("postgres.dump", "graph.tar.gz")
NAME_FORMAT = "%Y%m%dT%H%M%SZ"
PG_MAGIC = b"PGDMP"  # pg_dump's custom format starts with it
TERMINATION_LOG = Path("/dev/termination-log")


class BackupError(Exception):
    """One clear message (what, why, what to do) and the exit code it ends with."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Config:
    endpoint: str | None
    bucket: str
    prefix: str
    region: str
    credentials_dir: Path
    work_dir: Path
    graph_url: str
    keep_daily: int
    keep_weekly: int

    @staticmethod
    def from_env(env: dict[str, str] | None = None) -> "Config":
        e = os.environ if env is None else env
        missing = [k for k in ("BACKUP_S3_BUCKET", "BACKUP_S3_CREDENTIALS_DIR") if not e.get(k)]
        prefix = e.get("BACKUP_S3_PREFIX") or e.get("POD_NAMESPACE", "")
        if not prefix:
            missing.append("BACKUP_S3_PREFIX (or POD_NAMESPACE)")
        if missing:
            raise BackupError(f"backup configuration incomplete: {', '.join(missing)} not set; set them in the "
                              "graphmemory-backup ConfigMap (k8s/components/backup)", 2)
        try:
            daily, weekly = int(e.get("BACKUP_KEEP_DAILY", "7")), int(e.get("BACKUP_KEEP_WEEKLY", "4"))
        except ValueError:
            raise BackupError("BACKUP_KEEP_DAILY and BACKUP_KEEP_WEEKLY must be whole numbers", 2) from None
        return Config(endpoint=e.get("BACKUP_S3_ENDPOINT") or None, bucket=e["BACKUP_S3_BUCKET"], prefix=prefix.strip("/"),
                      region=e.get("BACKUP_S3_REGION") or "us-east-1", credentials_dir=Path(e["BACKUP_S3_CREDENTIALS_DIR"]),
                      work_dir=Path(e.get("BACKUP_WORK_DIR", "/work")), graph_url=e.get("GRAPH_URL", "http://graph:8001"),
                      keep_daily=daily, keep_weekly=weekly)


def log(msg: str) -> None:
    print(f"gmi-backup: {msg}", file=sys.stderr, flush=True)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# -- pure decisions ------------------------------------------------------------------------------------------------

def backup_name(now: datetime) -> str:
    return now.astimezone(timezone.utc).strftime(NAME_FORMAT)


def parse_name(name: str) -> datetime | None:
    try:
        return datetime.strptime(name, NAME_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def manifest_for(name: str, files: dict[str, Path], taken: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "format": 1, "taken": taken,
            "files": {f: {"size": p.stat().st_size, "sha256": sha256_file(p)} for f, p in files.items()}}


def check_manifest(manifest: Any, name: str) -> None:
    """A manifest names every file with its size and sha256; anything else is a corrupt backup."""
    ok = (isinstance(manifest, dict) and manifest.get("name") == name and isinstance(manifest.get("files"), dict)
          and set(manifest["files"]) == set(FILES)
          and all(isinstance(v, dict) and isinstance(v.get("size"), int) and isinstance(v.get("sha256"), str)
                  and len(v["sha256"]) == 64 for v in manifest["files"].values()))
    if not ok:
        raise BackupError(f"backup {name} is corrupt: its {MANIFEST} does not list {', '.join(FILES)} with sizes "
                          "and sha256 sums; restore another backup (`make backups ENV=...` lists them)", 4)


def to_keep(complete: list[str], now: datetime, daily: int, weekly: int) -> set[str]:
    """Retention: the newest backup of each of the last `daily` days, and of each of the last `weekly` ISO weeks;
    the newest backup is always kept."""
    by_day: dict[str, str] = {}
    by_week: dict[str, str] = {}
    for n in sorted(complete, reverse=True):
        t = parse_name(n)
        if t is None:
            continue
        by_day.setdefault(t.strftime("%Y-%m-%d"), n)
        by_week.setdefault("%d-W%02d" % t.isocalendar()[:2], n)
    days = {(now - timedelta(days=i)).strftime("%Y-%m-%d") for i in range(daily)}
    weeks = {"%d-W%02d" % (now - timedelta(weeks=i)).isocalendar()[:2] for i in range(weekly)}
    keep = {n for d, n in by_day.items() if d in days} | {n for w, n in by_week.items() if w in weeks}
    if complete:
        keep.add(max(complete))
    return keep


# -- the object store ----------------------------------------------------------------------------------------------

class Store:
    def __init__(self, cfg: Config):
        import boto3
        from botocore.config import Config as BotoConfig

        def secret(f: str) -> str:
            p = cfg.credentials_dir / f
            try:
                return p.read_text().strip()
            except OSError:
                raise BackupError(f"cannot read the object store's {f} from {p}: is the Secret graphmemory-backup-s3 "
                                  "mounted there? create it (k8s/components/backup/required-secrets.yaml)", 2) from None
        self.cfg = cfg
        self.s3 = boto3.client("s3", endpoint_url=cfg.endpoint, region_name=cfg.region,
                               aws_access_key_id=secret("access-key-id"), aws_secret_access_key=secret("secret-access-key"),
                               config=BotoConfig(s3={"addressing_style": "path"}, retries={"max_attempts": 10, "mode": "standard"},
                                                 connect_timeout=10, read_timeout=120))
        # one request per file (no multipart): simple for any S3-compatible store, fine below 5 GiB
        from boto3.s3.transfer import TransferConfig
        self.transfer = TransferConfig(multipart_threshold=5 * 1024 ** 3, use_threads=False)

    def key(self, name: str, file: str = "") -> str:
        return f"{self.cfg.prefix}/{name}/{file}"

    def put(self, name: str, file: str, path: Path) -> None:
        self.s3.upload_file(str(path), self.cfg.bucket, self.key(name, file), Config=self.transfer)

    def get(self, name: str, file: str, path: Path) -> None:
        from botocore.exceptions import FlexibleChecksumError
        try:
            self.s3.download_file(self.cfg.bucket, self.key(name, file), str(path), Config=self.transfer)
        except FlexibleChecksumError:
            # the store keeps the checksum boto3 sent at upload and checks the download against it: changed bytes
            raise BackupError(f"backup {name} is corrupt: {file} does not match the checksum recorded at its upload; "
                              "restore another backup (`make backups ENV=...` lists them)", 4) from None

    def exists(self, name: str, file: str) -> bool:
        from botocore.exceptions import ClientError
        try:
            self.s3.head_object(Bucket=self.cfg.bucket, Key=self.key(name, file))
            return True
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def backups(self) -> dict[str, dict[str, Any]]:
        """name → {files: {file: size}, modified}: every folder under the prefix."""
        out: dict[str, dict[str, Any]] = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.cfg.bucket, Prefix=f"{self.cfg.prefix}/"):
            for o in page.get("Contents", []):
                rest = o["Key"][len(self.cfg.prefix) + 1:]
                if "/" not in rest:
                    continue
                name, file = rest.split("/", 1)
                b = out.setdefault(name, {"files": {}, "modified": o["LastModified"]})
                b["files"][file] = o["Size"]
                b["modified"] = max(b["modified"], o["LastModified"])
        return out

    def delete(self, name: str, files: list[str]) -> None:
        # the manifest first: a half-deleted backup is then incomplete, never restored
        for f in sorted(files, key=lambda f: f != MANIFEST):
            self.s3.delete_object(Bucket=self.cfg.bucket, Key=self.key(name, f))


# -- steps ---------------------------------------------------------------------------------------------------------

def _retrying(what: str, fn, seconds: float = 60):
    """Calls fn, retrying a refused or failed connection for up to `seconds`: where NetworkPolicies are enforced by an
    agent (kube-router), a new pod's first packets can be refused until the agent has seen it."""
    import httpx
    deadline = time.monotonic() + seconds
    while True:
        try:
            return fn()
        except (httpx.ConnectError, httpx.ConnectTimeout) as e:
            if time.monotonic() > deadline:
                raise BackupError(f"cannot reach {what}: {e}") from None
            time.sleep(1)


def dump_graph(cfg: Config, dest: Path) -> str:
    """Streams the graph service's snapshot (a tar.gz of Kuzu's EXPORT DATABASE, taken under its write lock) to dest."""
    import httpx

    def get() -> str:
        with httpx.stream("GET", f"{cfg.graph_url}/backup/snapshot", timeout=httpx.Timeout(30, read=600)) as r:
            if r.status_code != 200:
                raise BackupError(f"the graph service refused the snapshot: HTTP {r.status_code} {r.read()[:300]!r}")
            with dest.open("wb") as f:
                for chunk in r.iter_bytes():
                    f.write(chunk)
            return r.headers.get("x-snapshot-taken", "")
    return _retrying(f"the graph service at {cfg.graph_url}", get)


def test_restore_graph(archive: Path) -> int:
    """Imports the graph archive into a scratch Kuzu database; returns its memory count. Proves the backup restores."""
    import kuzu

    from .graph import safe_extract
    with tempfile.TemporaryDirectory(dir=archive.parent) as d:
        src = Path(d) / "export"
        safe_extract(archive, src)
        db = kuzu.Database(str(Path(d) / "scratch.kuzu"), buffer_pool_size=64 * 1024 * 1024)
        try:
            conn = kuzu.Connection(db)
            conn.execute(f"IMPORT DATABASE '{src}'")
            n = conn.execute("MATCH (m:Memory) RETURN count(m)").get_all()[0][0]
            conn.close()
        finally:
            db.close()
        return int(n)


def verify_files(manifest: dict[str, Any], folder: Path, name: str) -> dict[str, Any]:
    """Checks the files in folder against the manifest (size, sha256), the dump's header and the graph's test restore."""
    bad = []
    for f, want in manifest["files"].items():
        p = folder / f
        if not p.exists() or p.stat().st_size != want["size"] or sha256_file(p) != want["sha256"]:
            bad.append(f)
    if bad:
        raise BackupError(f"backup {name} is corrupt: {', '.join(bad)} do not match the sha256 in its manifest; "
                          "restore another backup (`make backups ENV=...` lists them)", 4)
    with (folder / "postgres.dump").open("rb") as f:
        if f.read(len(PG_MAGIC)) != PG_MAGIC:
            raise BackupError(f"backup {name} is corrupt: postgres.dump is not a pg_dump custom-format archive", 4)
    try:
        memories = test_restore_graph(folder / "graph.tar.gz")
    except BackupError:
        raise
    except Exception as e:  # noqa: BLE001 - tarfile, kuzu: any failure means the graph cannot be restored
        raise BackupError(f"backup {name} is corrupt: its graph does not restore into a scratch database "
                          f"({type(e).__name__}: {' '.join(str(e).split())[:200]})", 4) from None
    return {"memories": memories}


def run(cfg: Config, store: Store, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(timezone.utc)
    name = backup_name(now)
    work = cfg.work_dir
    dump = work / "postgres.dump"
    if not dump.exists():
        raise BackupError(f"no postgres dump at {dump}: the Job's postgres container (pg_dump) writes it first", 2)
    t0 = time.monotonic()
    graph_taken = dump_graph(cfg, work / "graph.tar.gz")
    taken = {"postgres": datetime.fromtimestamp(dump.stat().st_mtime, timezone.utc).isoformat(), "graph": graph_taken}
    manifest = manifest_for(name, {f: work / f for f in FILES}, taken)
    (work / MANIFEST).write_text(json.dumps(manifest, indent=2))
    for f in FILES:
        store.put(name, f, work / f)
    store.put(name, MANIFEST, work / MANIFEST)  # last: the backup is complete once it is there
    log(f"uploaded {name} ({sum(v['size'] for v in manifest['files'].values())} bytes) to "
        f"s3://{cfg.bucket}/{cfg.prefix}/{name}/")
    checked = fetch(cfg, store, name, work / "verify")
    expired = expire(cfg, store, now)
    return {"name": name, "size": sum(v["size"] for v in manifest["files"].values()), "verified": True,
            "memories": checked["memories"], "expired": expired, "seconds": round(time.monotonic() - t0, 2)}


def resolve(store: Store, wanted: str) -> str:
    found = store.backups()
    complete = sorted(n for n, b in found.items() if MANIFEST in b["files"])
    if wanted == "latest":
        if not complete:
            raise BackupError(f"no backup to restore: s3://{store.cfg.bucket}/{store.cfg.prefix}/ holds no complete "
                              "backup; run one (`make backup ENV=...`)", 3)
        return complete[-1]
    if wanted not in found:
        near = ", ".join(complete[-3:]) or "none"
        raise BackupError(f"backup {wanted} does not exist under s3://{store.cfg.bucket}/{store.cfg.prefix}/ "
                          f"(newest complete: {near}); pick one of `make backups ENV=...`", 3)
    if wanted not in complete:
        raise BackupError(f"backup {wanted} is incomplete (no {MANIFEST}: its upload did not finish); "
                          "restore another one", 4)
    return wanted


def fetch(cfg: Config, store: Store, wanted: str, folder: Path | None = None) -> dict[str, Any]:
    name = resolve(store, wanted)
    folder = folder or cfg.work_dir
    folder.mkdir(parents=True, exist_ok=True)
    store.get(name, MANIFEST, folder / MANIFEST)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except ValueError:
        manifest = None
    check_manifest(manifest, name)
    for f in FILES:
        store.get(name, f, folder / f)
    checked = verify_files(manifest, folder, name)
    log(f"verified {name}: checksums match, graph test-restored ({checked['memories']} memories)")
    return {"name": name, "size": sum(v["size"] for v in manifest["files"].values()), "verified": True,
            "taken": manifest.get("taken", {}), **checked}


def expire(cfg: Config, store: Store, now: datetime) -> list[str]:
    found = store.backups()
    complete = [n for n, b in found.items() if MANIFEST in b["files"] and parse_name(n)]
    keep = to_keep(complete, now, cfg.keep_daily, cfg.keep_weekly)
    day_ago = now - timedelta(days=1)
    # incomplete ones go once a day old (an upload in flight is younger)
    gone = [n for n, b in found.items() if n not in keep and (n in complete or b["modified"] < day_ago)]
    for n in sorted(gone):
        store.delete(n, list(found[n]["files"]))
        log(f"expired {n}")
    return sorted(gone)


def listing(store: Store) -> dict[str, Any]:
    rows = []
    for n, b in sorted(store.backups().items(), reverse=True):
        rows.append({"name": n, "time": (parse_name(n) or b["modified"]).isoformat(), "size": sum(b["files"].values()),
                     "status": "complete" if MANIFEST in b["files"] else "incomplete"})
    return {"backups": rows}


def restore_graph(cfg: Config) -> dict[str, Any]:
    import httpx
    archive = cfg.work_dir / "graph.tar.gz"
    def post() -> httpx.Response:
        with archive.open("rb") as f:
            return httpx.post(f"{cfg.graph_url}/backup/restore", content=f, headers={"content-type": "application/gzip"},
                              timeout=httpx.Timeout(30, read=600))
    r = _retrying(f"the graph service at {cfg.graph_url}", post)
    if r.status_code != 200:
        raise BackupError(f"the graph service did not restore the graph: HTTP {r.status_code} {r.text[:300]}")
    return r.json()


# -- entry point ---------------------------------------------------------------------------------------------------

def _result(doc: dict[str, Any]) -> None:
    line = json.dumps(doc, default=str, separators=(",", ":"))
    print(line, flush=True)
    try:
        TERMINATION_LOG.write_text(line[:4000])
    except OSError:
        pass


def main(args: list[str]) -> int:
    usage = "usage: python -m app backup run | list | fetch <name|latest> | restore-graph"
    try:
        cfg = Config.from_env()
        if args == ["run"]:
            _result(run(cfg, Store(cfg)))
        elif args == ["list"]:
            _result(listing(Store(cfg)))
        elif len(args) == 2 and args[0] == "fetch":
            _result(fetch(cfg, Store(cfg), args[1]))
        elif args == ["restore-graph"]:
            _result(restore_graph(cfg))
        else:
            raise BackupError(f"unknown arguments {' '.join(args) or '(none)'}: {usage}", 2)
        return 0
    except BackupError as e:
        log(str(e))
        _result({"error": str(e), "code": e.code})
        return e.code
    except Exception as e:  # noqa: BLE001 - one line, never a traceback with a URL that may carry a key
        msg = f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"
        log(msg)
        _result({"error": msg, "code": 1})
        return 1
