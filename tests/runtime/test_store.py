"""The checkpoint store: one transaction per round, no eviction, a sound database, locks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from prodigy.runtime.store import (
    CheckpointStore,
    DlqPut,
    NodeRecord,
    RecordStatus,
    RunRecord,
    RunStatus,
    StateDir,
    StateLocked,
    atomic_write,
    safe_name,
)


def record(node: str, status: RecordStatus = RecordStatus.DONE, size: int = 0) -> NodeRecord:
    return NodeRecord(node, "k" * 64, "f" * 64, {"dep": "d" * 64}, status,
                      result={"variables": {"blob": "x" * size}})


def test_records_round_trip_and_check_clean(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "cache")
    store.write("r1", [record("a"), record("b", RecordStatus.STARTED)])
    loaded = store.load("r1", ["a", "b", "c"])
    assert set(loaded) == {"a", "b"}
    assert loaded["a"] == record("a") and loaded["b"].status is RecordStatus.STARTED
    assert store.get("r2", "a") is None  # records belong to their run
    assert store.check() == []
    store.close()
    again = CheckpointStore(tmp_path / "cache")  # a later driver learns which are in files
    again.write("r1", [record("n4"), record("n6"), record("n7")])
    assert again.load("r1", ["n4", "n6"]) == {"n4": record("n4"), "n6": record("n6")}
    assert again.get("r1", "n4") == record("n4") and again.check() == []
    again.close()


def test_eviction_is_off(tmp_path: Path) -> None:
    """diskcache's default would cull past its size limit; checkpoints must never vanish."""
    store = CheckpointStore(tmp_path / "cache")
    assert store.cache.eviction_policy == "none"
    store.cache.reset("size_limit", 50_000)  # even a tiny limit must not evict anything
    for i in range(100):
        store.write("r1", [record(f"n{i}", size=20_000)])
    assert len(store.load("r1", [f"n{i}" for i in range(100)])) == 100
    store.close()


def test_bulk_writes_and_reads_agree_with_diskcache(tmp_path: Path) -> None:
    """Short records go in by one statement and come back by one query (`_upsert`, `_scan`);
    long ones live in files. Replacing either kind by the other leaves a store that
    diskcache's own `get` and `check()` agree with."""
    store = CheckpointStore(tmp_path / "cache")
    nodes = [f"n{i}" for i in range(100)]
    store.write("r1", [record(n, size=40_000 if n == "n3" else 0) for n in nodes])
    store.write("r2", [record("n1", RecordStatus.FAILED), record("n2")])  # another run
    assert store.load("r1", nodes) == {n: record(n, size=40_000 if n == "n3" else 0)
                                       for n in nodes}
    store.write("r1", [record("n3"), record("n4", size=40_000), record("n5", RecordStatus.FAILED)])
    loaded = store.load("r1", nodes)
    assert loaded["n3"] == record("n3") and loaded["n4"] == record("n4", size=40_000)
    assert loaded["n5"].status is RecordStatus.FAILED
    assert store.get("r1", "n3") == record("n3") and store.get("r2", "n1").status is \
        RecordStatus.FAILED  # type: ignore[union-attr]
    assert store.check() == []
    store.close()


def test_a_failed_transaction_writes_nothing(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "cache")

    class Boom(Exception):
        pass

    def boom(*args: object) -> None:
        raise Boom

    # Records (short ones are written in bulk), then a failure in the same transaction.
    batch = [record("a"), record("b"), record("c"), DlqPut("loop", 0, {})]
    store._write_dlq = boom  # type: ignore[method-assign]
    with pytest.raises(Boom):
        store.write("r1", batch)
    assert store.load("r1", ["a", "b", "c"]) == {}
    assert store.check() == []
    store.close()


def test_a_killed_writer_leaves_committed_records_and_a_sound_db(tmp_path: Path) -> None:
    code = f"""
import sys
from prodigy.runtime.store import CheckpointStore, NodeRecord, RecordStatus
store = CheckpointStore(__import__('pathlib').Path({str(tmp_path / 'cache')!r}))
i = 0
while True:
    store.write("r1", [NodeRecord(f"n{{i}}", "k", "f", {{}}, RecordStatus.DONE)])
    print(i, flush=True)
    i += 1
"""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    acknowledged = [proc.stdout.readline() for _ in range(200)]
    proc.kill()
    proc.wait()
    store = CheckpointStore(tmp_path / "cache")
    last = int(acknowledged[-1])
    assert len(store.load("r1", [f"n{i}" for i in range(last + 1)])) == last + 1
    assert store.check() == []
    store.close()


def test_lock_excludes_a_second_holder_and_dies_with_its_process(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from prodigy.runtime.store import StateDir; s = StateDir(Path(sys.argv[1])); "
         "s.lock('other'); print('locked', flush=True); time.sleep(60)", str(tmp_path)],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    with pytest.raises(StateLocked) as exc:
        state.lock("other")
    assert f"pid {holder.pid} run other" in str(exc.value)
    assert state.is_locked("other") and not state.is_locked("mine")
    state.lock("mine")  # another run of the same state dir goes ahead meanwhile
    state.unlock("mine")
    holder.kill()  # a crash: nobody cleans the lock file up
    holder.wait()
    state.lock("other")
    state.unlock()
    assert (tmp_path / ".gitignore").read_text().splitlines()[-1] == "*"


def test_run_records_and_crashed_runs(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    rec = RunRecord("r1", RunStatus.RUNNING, "wf", "wf.yml", "/", 1.0, 1.0, os.getpid())
    state.write_run(rec)
    # Nobody holds the lock, so a record still saying "running" is a crashed run.
    assert state.read_run("r1").status is RunStatus.INTERRUPTED  # type: ignore[union-attr]
    state.lock("r1")
    assert state.read_run("r1").status is RunStatus.RUNNING  # type: ignore[union-attr]
    state.unlock()
    assert [r.run_id for r in state.list_runs()] == ["r1"]


def test_atomic_write_and_safe_names(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "f.txt"
    atomic_write(target, "one", mode=0o600)
    atomic_write(target, "two")
    assert target.read_text() == "two" and list(target.parent.iterdir()) == [target]
    assert safe_name("main.0") == "main.0"
    assert safe_name("a/b c") != safe_name("a_b c")
    assert "/" not in safe_name("../../etc")


def test_item_records_and_the_dlq_share_a_transaction_and_an_index(tmp_path: Path) -> None:
    from prodigy.runtime.store import SHARD, DlqDrop, DlqPut, ItemRecord, ItemStatus

    store = CheckpointStore(tmp_path / "cache")
    far = SHARD * 3 + 5  # another index shard
    store.write("r1", [ItemRecord("map", 1, "k1", ItemStatus.FAILED, {"status": "failed"}),
                       DlqPut("map", 1, {"item_id": "item_1", "index": 1}),
                       DlqPut("map", far, {"item_id": f"item_{far}", "index": far}),
                       DlqPut("other", 0, {"item_id": "item_0", "index": 0})])
    item = store.get_item("r1", "map", 1)
    assert item is not None and item.status is ItemStatus.FAILED and item.key == "k1"
    assert store.get_item("r1", "map", 2) is None
    assert store.dlq_indices("r1") == [("map", 1), ("map", far), ("other", 0)]
    assert [e["item_id"] for e in store.dlq_entries("r1")] == ["item_1", f"item_{far}",
                                                               "item_0"]
    assert store.dlq_indices("r2") == []  # queues belong to their run
    store.write("r1", [DlqDrop("map", far), DlqPut("map", 1, {"item_id": "item_1", "n": 2})])
    assert store.dlq_indices("r1") == [("map", 1), ("other", 0)]
    assert store.dlq_get("r1", "map", 1) == {"item_id": "item_1", "n": 2}
    assert store.dlq_purge("r1") == 2
    assert store.dlq_entries("r1") == [] and store.get_item("r1", "map", 1) is not None
    assert store.check() == []
    store.close()
