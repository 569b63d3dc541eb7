"""The one module that owns persisted run state: the state-dir lock, run records, checkpoints.

Layout under the state dir (`$PRODIGY_STATE_DIR`, else `.prodigy/` where the workflow runs):

    lock                     flock'd by the live run; holds its pid and run id
    runs/RUN_ID/run.json     the run record (status, timing, counts, how to resume)
    runs/RUN_ID/plan.json    the plan being run, so `prodigy resume` needs no YAML
    runs/RUN_ID/events.jsonl the event log (`events.py`)
    runs/RUN_ID/logs/        one log per node, streamed while it runs
    cache/                   diskcache: one checkpoint record per (run, node); one item record
                             per (run, loop, item); the dead-letter queue (below)

Checkpoints. A node's key is the sha256 of its fingerprint, its rendered inputs and the keys of
the nodes it depends on (a Merkle chain: an upstream change changes every key below it). Its
`done` record is committed (with the other records of the same scheduling round, in one
diskcache transaction) after its outputs are in place; a failure leaves a `failed` record. A
`done` record under the key the node has now means the node is never run again in this run;
any other node runs (again). Only loop nodes also get a `started` record, written before
their first item or attempt is dispatched, so that a resume knows whether to look up item
records; for other nodes it would cost a write per node and change no decision. The cache uses
`eviction_policy='none'`: diskcache's default would silently evict checkpoints past 1 GiB.

Items. A map or foreach checkpoints per item, not per node of its body: an item record
(`ItemRecord`: its key, status and its entry of `map.results`) says the item finished; an item
without one runs again whole.

The dead-letter queue holds one entry per failed map item (`DlqPut`: a JSON object, shape in
`runtime/loops/dlq.py`), written in the same transaction as the item's record, so a crash never
leaves a failed item recorded but missing from the queue. Entries are found through small
index records: per (run, loop) the item indices, in shards of SHARD items, and per run the
loops and shards that hold any.

The lock is an `flock` on `lock`, so the kernel drops it when the holder dies, however it dies:
a stale lock is recovered without anyone deleting a file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import diskcache

from prodigy.runtime.errors import CheckpointError
from prodigy.runtime.json_text import encoder

STORE_VERSION = 2
# Built once: json.dumps with options builds a new encoder on every call.
_COMPACT = encoder(",", ":")
_DECODE = json.JSONDecoder().decode
_UPSERT = (  # see CheckpointStore._upsert
    "INSERT INTO Cache(key, raw, store_time, expire_time, access_time, access_count, tag, size,"
    " mode, filename, value) VALUES (?, 1, ?, NULL, ?, 0, NULL, 0, 1, NULL, ?)"
    " ON CONFLICT(key, raw) DO UPDATE SET store_time = excluded.store_time,"
    " expire_time = NULL, access_time = excluded.access_time, access_count = 0, tag = NULL,"
    " size = 0, mode = 1, filename = NULL, value = excluded.value")
_SCAN_FROM = 64  # records to load before one range query beats a get per record
SHARD = 1024  # item indices per DLQ index record: a failure rewrites one small record


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class RecordStatus(StrEnum):
    STARTED = "started"
    DONE = "done"
    FAILED = "failed"


# Value -> member by a dict lookup: calling the enum costs more, once per record on resume.
_RECORD_STATUS = {status.value: status for status in RecordStatus}


class ItemStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # failed or timed out; a map sends it to the DLQ (unless skipped)
    SKIPPED = "skipped"  # failed, but the error policy says to skip it: not a failure


class StoreLost(CheckpointError):
    def __init__(self, directory: Path, run_id: str) -> None:
        super().__init__(
            f"the checkpoint store {directory} holds no records of run {run_id}, which its run "
            "record says it has (the store was emptied, replaced or deleted), so every finished "
            f"step would run again: restore {directory} from a backup, or forget the run "
            f"(`prodigy clean`) and start the workflow afresh with `prodigy run`")


class StateLocked(CheckpointError):
    def __init__(self, path: Path, run_id: str, holder: str) -> None:
        super().__init__(f"run {run_id} in {path} is in use by a running prodigy ({holder}); "
                         "wait for it to finish, or start another run")
        self.holder = holder


def default_state_dir(cwd: Path) -> Path:
    env = os.environ.get("PRODIGY_STATE_DIR")
    return Path(env).expanduser() if env else cwd / ".prodigy"


def atomic_write(path: Path, data: bytes | str, mode: int | None = None) -> None:
    """Write a temp file next to `path`, then rename over it: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _unusable(path: Path, exc: OSError) -> str:
    return f"{path}: {exc.strerror or exc}: the state dir must be a writable directory"


def safe_name(node_id: str) -> str:
    """A file name for a node id; ids are the compiler's, so they may hold any character."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", node_id)[:100]
    if cleaned == node_id:
        return cleaned
    import hashlib

    return f"{cleaned}-{hashlib.sha256(node_id.encode()).hexdigest()[:8]}"


@dataclass(slots=True)
class RunRecord:
    run_id: str
    status: RunStatus
    workflow: str
    source: str  # the YAML or plan file the run came from
    cwd: str
    created_at: float
    updated_at: float
    pid: int
    finished_at: float | None = None
    args: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    resume: str = ""  # the command that continues this run
    attempts: int = 1  # how many times the run was started (run + resumes)
    workspace: dict[str, str] = field(default_factory=dict)  # runtime/git/workspace.py
    merge: dict[str, Any] = field(default_factory=dict)  # how merging it back went
    # `-n`: each iteration's start commit, commits made, and what it ran (the summary's counts)
    iterations: list[dict[str, Any]] = field(default_factory=list)
    max_iterations: int = 0  # `-n` (0: not set yet), kept so a resume iterates as far
    spend: dict[str, Any] = field(default_factory=dict)  # agents' cost and tokens (usage.py)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = str(self.status)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["status"] = RunStatus(known["status"])
        return cls(**known)


class StateDir:
    """Paths and run records under one state dir."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.runs = root / "runs"
        self.cache_dir = root / "cache"
        self._locks: dict[str, int] = {}

    def run_dir(self, run_id: str) -> Path:
        return self.runs / run_id

    def log_dir(self, run_id: str) -> Path:
        return self.runs / run_id / "logs"

    def events_path(self, run_id: str) -> Path:
        return self.runs / run_id / "events.jsonl"

    def plan_path(self, run_id: str) -> Path:
        return self.runs / run_id / "plan.json"

    # --- lock ----------------------------------------------------------------------------

    def lock(self, run_id: str) -> None:
        """Take `run_id`'s lock or raise StateLocked naming the holder. The lock guards one
        run, not the state dir: two runs of one project may go at once (the checkpoint store
        is a database that takes concurrent writers)."""
        path = self.run_dir(run_id) / "lock"
        try:
            self.run_dir(run_id).mkdir(parents=True, exist_ok=True)
            self.ignore_in_git()
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:  # a read-only state dir, a file in its place, a directory `lock`
            raise CheckpointError(_unusable(path, exc)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StateLocked(self.root, run_id, holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} run {run_id}\n".encode(), 0)
        self._locks[run_id] = fd

    def unlock(self, run_id: str | None = None) -> None:
        """Release `run_id`'s lock (every lock this object holds when None)."""
        for held in [run_id] if run_id is not None else list(self._locks):
            fd = self._locks.pop(held, None)
            if fd is not None:
                os.close(fd)  # closing the descriptor releases the flock

    def is_locked(self, run_id: str) -> bool:
        """True if a live process holds `run_id`'s lock (a 'running' record without one is a
        run whose driver died)."""
        if run_id in self._locks:
            return True
        try:
            fd = os.open(self.run_dir(run_id) / "lock", os.O_RDONLY)  # flock needs no write
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise CheckpointError(_unusable(self.run_dir(run_id) / "lock", exc)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def ignore_in_git(self) -> None:
        """A `.gitignore` of `*` in the state dir (as `.pytest_cache` has): an agent's
        `git add -A` never commits run state, and `git status` stays clean."""
        marker = self.root / ".gitignore"
        if not marker.exists():
            with contextlib.suppress(OSError):
                atomic_write(marker, "# created by prodigy: run state, never committed\n*\n")

    # --- run records ---------------------------------------------------------------------

    def write_run(self, record: RunRecord) -> None:
        record.updated_at = time.time()
        path = self.run_dir(record.run_id) / "run.json"
        try:
            atomic_write(path, json.dumps(record.to_json(), indent=1, sort_keys=True) + "\n")
        except OSError as exc:  # a full disk, a read-only state dir
            raise CheckpointError(_unusable(path, exc)) from None

    def read_run(self, run_id: str) -> RunRecord | None:
        path = self.run_dir(run_id) / "run.json"
        try:
            record = RunRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CheckpointError(_unusable(path, exc)) from None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CheckpointError(f"run record {path} is damaged ({exc}): delete the run's "
                                  f"directory {path.parent} to forget the run") from None
        if record.status is RunStatus.RUNNING and not self.is_locked(run_id):
            record.status = RunStatus.INTERRUPTED  # its driver died without recording it
        return record

    def list_runs(self) -> list[RunRecord]:
        """The runs whose records are readable (`scan_runs` also says which are not)."""
        return self.scan_runs()[0]

    def scan_runs(self) -> tuple[list[RunRecord], list[str]]:
        """Every readable run record, oldest first, and why each damaged one is not: one
        damaged run never hides the others."""
        try:
            dirs = [p for p in self.runs.iterdir() if p.is_dir()] if self.runs.is_dir() else []
        except OSError as exc:
            raise CheckpointError(_unusable(self.runs, exc)) from None
        records: list[RunRecord] = []
        damaged: list[str] = []
        for entry in dirs:
            try:
                record = self.read_run(entry.name)
            except CheckpointError as exc:
                damaged.append(str(exc))
                continue
            if record is not None:
                records.append(record)
        return sorted(records, key=lambda r: r.created_at), damaged

    def remove_run(self, run_id: str) -> None:
        """Delete `run_id`'s directory (record, plan, events, logs); its checkpoint records
        are `CheckpointStore.forget`'s. The caller holds the run's lock: no driver is in it."""
        import shutil

        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """What the store knows about one node of one run."""

    node_id: str
    key: str
    fingerprint: str
    deps: dict[str, str]  # dependency id -> its key when this record was written
    status: RecordStatus
    attempt: int = 0
    result: dict[str, Any] = field(default_factory=dict)
    handled: bool = False
    at: float = 0.0

    def to_json(self) -> str:
        # Hand-built, not asdict(): this runs once per node on the hot path.
        return _COMPACT({"node_id": self.node_id, "key": self.key,
                         "fingerprint": self.fingerprint, "deps": self.deps,
                         "status": str(self.status), "attempt": self.attempt,
                         "result": self.result, "handled": self.handled, "at": self.at})

    @classmethod
    def from_json(cls, text: str) -> NodeRecord:
        return cls.from_data(_DECODE(text))

    @classmethod
    def from_data(cls, d: dict[str, Any]) -> NodeRecord:
        # Positional: a resume builds one per node.
        return cls(d["node_id"], d["key"], d["fingerprint"], d["deps"],
                   _RECORD_STATUS[d["status"]], d.get("attempt", 0), d.get("result") or {},
                   d.get("handled", False), d.get("at", 0.0))


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """A finished item of a loop (map or foreach); `result` is its entry in `map.results`."""

    loop: str  # the loop node's id
    index: int
    key: str
    status: ItemStatus
    result: dict[str, Any] = field(default_factory=dict)
    at: float = 0.0

    def to_json(self) -> str:
        return json.dumps({"loop": self.loop, "index": self.index, "key": self.key,
                           "status": str(self.status), "result": self.result, "at": self.at},
                          separators=(",", ":"), ensure_ascii=False, default=str)

    @classmethod
    def from_json(cls, text: str) -> ItemRecord:
        data = json.loads(text)
        return cls(**{**data, "status": ItemStatus(data["status"])})


@dataclass(frozen=True, slots=True)
class DlqPut:
    """Put (or replace) the DLQ entry of item `index` of `loop`."""

    loop: str
    index: int
    entry: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DlqDrop:
    """Remove item `index` of `loop` from the DLQ (it succeeded since)."""

    loop: str
    index: int


Write = NodeRecord | ItemRecord | DlqPut | DlqDrop


class CheckpointStore:
    """Node records over diskcache. Only the driver writes; every write is one transaction."""

    def __init__(self, directory: Path) -> None:
        try:
            # cull_limit=0: with nothing to evict, skip the culling queries on every set.
            # No memory map and a 4 MiB page cache (diskcache's defaults: 64 + 32 MiB): the
            # driver of a long map stays flat instead of growing with the database.
            self.cache = diskcache.Cache(str(directory), eviction_policy="none",
                                         size_limit=2**62, cull_limit=0, sqlite_mmap_size=0,
                                         sqlite_cache_size=2**10)
        except Exception as exc:  # sqlite errors surface as many types; all mean "unusable"
            raise CheckpointError(f"checkpoint store {directory} is unusable: {exc}") from None
        version = self.cache.get("store_version")
        if version is None:
            self.cache.set("store_version", STORE_VERSION)
        elif version != STORE_VERSION:
            raise CheckpointError(f"checkpoint store {directory} has version {version}; this "
                                  f"prodigy reads {STORE_VERSION} (delete the cache dir)")
        self.directory = directory
        self._in_files: set[str] = set()
        self._filed: dict[str, set[str]] = {}  # run id -> see _filed_keys
        # Shorter text values are stored inline in the table (diskcache's min_file_size).
        self._inline_limit = int(self.cache.disk_min_file_size)

    def close(self) -> None:
        self.cache.close()

    @classmethod
    def for_reading(cls, directory: Path) -> CheckpointStore:
        """The store opened without writing a byte (`store_readonly.py`), for commands that
        only read it (`dlq list`, `runs show`, `report`): they work on a read-only state dir."""
        from prodigy.runtime.store_readonly import ReadOnlyCache

        store = cls.__new__(cls)
        store.cache, store.directory = ReadOnlyCache(directory), directory
        store._in_files, store._filed = set(), {}
        store._inline_limit = store.cache.disk_min_file_size
        version = store.cache.get("store_version")
        if version not in (None, STORE_VERSION):
            raise CheckpointError(f"checkpoint store {directory} has version {version}; this "
                                  f"prodigy reads {STORE_VERSION} (delete the cache dir)")
        return store

    @staticmethod
    def _key(run_id: str, node_id: str) -> str:
        # Text keys and JSON text values: diskcache stores both raw, with no pickling.
        return f"node\x1f{run_id}\x1f{node_id}"

    # --- the run marker: the store and the run records agree ------------------------------

    @staticmethod
    def _run_key(run_id: str) -> str:
        return f"run\x1f{run_id}"

    def open_run(self, run_id: str, resuming: bool) -> None:
        """At the start of an attempt: a new run leaves its marker here; a resumed one must
        find it, or the store lost the run's records (a `cache.db` emptied or replaced) and
        every finished step would silently run again."""
        if self.cache.get(self._run_key(run_id)) is not None:
            return
        if resuming:
            raise StoreLost(self.directory, run_id)
        try:
            self.cache.set(self._run_key(run_id), _COMPACT({"at": time.time()}))
        except (OSError, sqlite3.Error) as exc:
            raise CheckpointError(f"cannot write the checkpoint store {self.directory}: "
                                  f"{exc}") from None

    def expect_run(self, run_id: str) -> None:
        """StoreLost unless this store holds run `run_id`'s records (see open_run)."""
        if self.cache.get(self._run_key(run_id)) is None:
            raise StoreLost(self.directory, run_id)

    @contextlib.contextmanager
    def _reading(self, what: str) -> Iterator[None]:
        """A record that does not decode is damage, reported with where it is, not a bug."""
        try:
            yield
        except (ValueError, KeyError, TypeError, AttributeError, sqlite3.Error) as exc:
            raise CheckpointError(f"checkpoint store {self.directory}: {what} is damaged "
                                  f"({exc}): delete the run's records with `prodigy clean`, "
                                  "or the whole cache dir to start over") from None

    def get(self, run_id: str, node_id: str) -> NodeRecord | None:
        with self._reading(f"the record of node {node_id!r} of run {run_id}"):
            text = self.cache.get(self._key(run_id, node_id))
            return NodeRecord.from_json(text) if text is not None else None

    def load(self, run_id: str, node_ids: Iterable[str]) -> dict[str, NodeRecord]:
        """The records of these nodes of a run at once (a resume reads them all first)."""
        with self._reading(f"a node record of run {run_id}"):
            return self._load(run_id, list(node_ids))

    def _load(self, run_id: str, wanted: list[str]) -> dict[str, NodeRecord]:
        texts = self._scan(self._key(run_id, "")) if len(wanted) > _SCAN_FROM else None
        found: list[tuple[str, str]] = []
        get = self.cache.get
        for node_id in wanted:
            key = self._key(run_id, node_id)
            text = texts.get(key) if texts is not None else get(key)
            if text is None and texts is not None and key in self._in_files:
                text = get(key)
            if text is not None:
                found.append((node_id, text))
        try:  # one decoder call for all of them: a resume of 10,000 nodes reads 10,000
            data = _DECODE(f"[{','.join(text for _, text in found)}]")
        except ValueError:  # a damaged record: decode one by one, so its error is its own
            data = [_DECODE(text) for _, text in found]
        pairs = zip(found, data, strict=True)
        return {node_id: NodeRecord.from_data(d) for (node_id, _), d in pairs}

    def _scan(self, prefix: str) -> dict[str, str] | None:
        """Every text record whose key starts with `prefix`, in one query.

        diskcache has no range read, and one `get` per record costs ~25 us (0.25 s for a
        10,000-node resume), so this reads its table directly: text keys are stored raw
        (`raw = 1`), short text values inline (`mode = MODE_RAW`); longer ones live in files
        and are left to `get` (their keys go to `_in_files`). Should the table not look as
        expected (another diskcache version), None: the caller falls back to `get`.
        """
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        try:
            rows = self.cache._sql(
                "SELECT key, mode, value FROM Cache WHERE raw = 1 AND key >= ? AND key < ?",
                (prefix, end)).fetchall()
        except (AttributeError, sqlite3.Error):
            return None
        texts: dict[str, str] = {}
        self._in_files = set()
        for key, mode, value in rows:
            if mode == diskcache.core.MODE_RAW and isinstance(value, str):
                texts[key] = value
            else:
                self._in_files.add(key)
        return texts

    def write(self, run_id: str, records: Iterable[Write]) -> None:
        """The records of one scheduling round (node, item, DLQ), in one transaction."""
        batch: list[tuple[str, str]] = []
        dlq: list[DlqPut | DlqDrop] = []
        for r in records:
            if isinstance(r, NodeRecord):
                batch.append((self._key(run_id, r.node_id), r.to_json()))
            elif isinstance(r, ItemRecord):
                batch.append((self._item_key(run_id, r.loop, r.index), r.to_json()))
            else:
                dlq.append(r)
        if not batch and not dlq:
            return
        try:
            self._commit(run_id, batch, dlq)
        except (OSError, sqlite3.Error) as exc:  # a full disk, a read-only cache dir
            raise CheckpointError(f"cannot write the checkpoint store {self.directory}: "
                                  f"{exc}") from None

    def _commit(self, run_id: str, batch: list[tuple[str, str]],
                dlq: list[DlqPut | DlqDrop]) -> None:
        with self.cache.transact():
            rest = self._upsert(run_id, batch)
            filed = self._filed.get(run_id)
            for key, text in rest:
                self.cache.set(key, text)
                if filed is not None:  # what `set` put in a file, or took out of one
                    (filed.add if len(text) >= self._inline_limit else filed.discard)(key)
            if dlq:
                self._write_dlq(run_id, dlq)

    def _upsert(self, run_id: str, batch: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Write the short text records of `batch` in one statement; return the rest.

        Inside the caller's transaction. `Cache.set` costs three statements a record (~45 us,
        most of a node's checkpoint cost), so short records go in as diskcache itself stores
        them (raw text key, `mode = MODE_RAW`, `size = 0`, value inline), by one UPSERT over
        its unique (key, raw) index; its triggers keep the count and size that `check()`
        verifies. Records too long to be stored inline, or replacing a row whose value lives
        in a file (which `set` must delete), are left to `set`. Should the table not look as
        expected (another diskcache version), everything is left to `set`.
        """
        limit = self._inline_limit
        short = [(k, t) for k, t in batch if len(t) < limit]
        if len(short) < 2:
            return batch
        now = time.time()
        try:
            filed = self._filed_keys(run_id)
            self.cache._con.executemany(_UPSERT, [(k, now, now, t) for k, t in short
                                                  if k not in filed])
        except (AttributeError, sqlite3.Error):
            return batch
        return [(k, t) for k, t in batch if len(t) >= limit or k in filed]

    def _filed_keys(self, run_id: str) -> set[str]:
        """Keys of the run's node and item records whose value lives in a file, read once:
        only the run's driver writes them (it holds the state dir's lock), and `write` keeps
        the set up to date, so no round has to ask the table again."""
        filed = self._filed.get(run_id)
        if filed is None:
            filed = set()
            for prefix in (self._key(run_id, ""), self._item_key(run_id, "", 0)[:-2]):
                end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
                filed.update(k for (k,) in self.cache._sql(
                    "SELECT key FROM Cache WHERE raw = 1 AND filename IS NOT NULL AND key >= ?"
                    " AND key < ?", (prefix, end)).fetchall())
            self._filed[run_id] = filed
        return filed

    # --- items -----------------------------------------------------------------------------

    @staticmethod
    def _item_key(run_id: str, loop: str, index: int) -> str:
        return f"item\x1f{run_id}\x1f{loop}\x1f{index}"

    def get_item(self, run_id: str, loop: str, index: int) -> ItemRecord | None:
        with self._reading(f"the record of item {index} of {loop!r} of run {run_id}"):
            text = self.cache.get(self._item_key(run_id, loop, index))
            return ItemRecord.from_json(text) if text is not None else None

    # --- the dead-letter queue -------------------------------------------------------------

    @staticmethod
    def _dlq_key(run_id: str, loop: str, index: int) -> str:
        return f"dlq\x1f{run_id}\x1f{loop}\x1f{index}"

    @staticmethod
    def _shard_key(run_id: str, loop: str, shard: int) -> str:
        return f"dlqshard\x1f{run_id}\x1f{loop}\x1f{shard}"

    @staticmethod
    def _meta_key(run_id: str) -> str:
        return f"dlqmeta\x1f{run_id}"

    def _write_dlq(self, run_id: str, changes: list[DlqPut | DlqDrop]) -> None:
        # Inside the caller's transaction: entries, then the index shards they touch.
        meta: dict[str, list[int]] = json.loads(self.cache.get(self._meta_key(run_id)) or "{}")
        shards: dict[tuple[str, int], set[int]] = {}
        for change in changes:
            where = (change.loop, change.index // SHARD)
            if where not in shards:
                text = self.cache.get(self._shard_key(run_id, *where))
                shards[where] = set(json.loads(text)) if text else set()
            key = self._dlq_key(run_id, change.loop, change.index)
            if isinstance(change, DlqPut):
                self.cache.set(key, json.dumps(change.entry, ensure_ascii=False, default=str))
                shards[where].add(change.index)
            else:
                self.cache.delete(key)
                shards[where].discard(change.index)
        for (loop, shard), indices in shards.items():
            listed = meta.setdefault(loop, [])
            if indices:
                self.cache.set(self._shard_key(run_id, loop, shard), json.dumps(sorted(indices)))
                if shard not in listed:
                    listed.append(shard)
            else:
                self.cache.delete(self._shard_key(run_id, loop, shard))
                if shard in listed:
                    listed.remove(shard)
        self.cache.set(self._meta_key(run_id), json.dumps(
            {loop: sorted(listed) for loop, listed in meta.items() if listed}))

    def dlq_indices(self, run_id: str) -> list[tuple[str, int]]:
        """(loop, item index) of every DLQ entry of a run, in loop then index order."""
        with self._reading(f"the DLQ index of run {run_id}"):
            meta: dict[str, list[int]] = json.loads(self.cache.get(self._meta_key(run_id))
                                                    or "{}")
            out: list[tuple[str, int]] = []
            for loop in sorted(meta):
                for shard in meta[loop]:
                    text = self.cache.get(self._shard_key(run_id, loop, shard))
                    out.extend((loop, int(index)) for index in json.loads(text or "[]"))
            return out

    def dlq_get(self, run_id: str, loop: str, index: int) -> dict[str, Any] | None:
        with self._reading(f"DLQ entry {index} of {loop!r} of run {run_id}"):
            text = self.cache.get(self._dlq_key(run_id, loop, index))
            if text is None:
                return None
            entry: dict[str, Any] = json.loads(text)
            if not isinstance(entry, dict):
                raise TypeError("not a JSON object")
            return entry

    def dlq_entries(self, run_id: str) -> list[dict[str, Any]]:
        out = []
        for loop, index in self.dlq_indices(run_id):
            entry = self.dlq_get(run_id, loop, index)
            if entry is not None:
                out.append(entry)
        return out

    def dlq_purge(self, run_id: str) -> int:
        """Empty a run's DLQ; returns how many entries it held. Item records stay: the items
        stay finished (failed) for a resume."""
        indices = self.dlq_indices(run_id)
        self.write(run_id, [DlqDrop(loop, index) for loop, index in indices])
        with self.cache.transact():
            self.cache.delete(self._meta_key(run_id))
        return len(indices)

    def check(self) -> list[Any]:
        """diskcache's own consistency check; an empty list means the store is sound."""
        return list(self.cache.check())

    def __iter__(self) -> Iterator[Any]:
        return iter(self.cache)

    def forget(self, run_id: str) -> int:
        """Delete every record of one run (nodes, items, DLQ entries, their index shards and
        meta) in one transaction, for `prodigy clean`; returns how many there were. Keys are
        found by a range query per kind (see `_scan`), so other runs' records are not read."""
        prefixes = (self._key(run_id, ""), self._item_key(run_id, "", 0)[:-2],
                    self._dlq_key(run_id, "", 0)[:-2], self._shard_key(run_id, "", 0)[:-2])
        with self.cache.transact():
            keys = [self._meta_key(run_id), self._run_key(run_id)]
            try:
                for prefix in prefixes:
                    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
                    keys += [key for (key,) in self.cache._sql(
                        "SELECT key FROM Cache WHERE raw = 1 AND key >= ? AND key < ?",
                        (prefix, end)).fetchall()]
            except (AttributeError, sqlite3.Error):  # another diskcache's table: read all
                keys += [key for key in self.cache
                         if isinstance(key, str) and key.startswith(prefixes)]
            gone = sum(bool(self.cache.delete(key)) for key in keys)
        self._filed.pop(run_id, None)
        return gone
