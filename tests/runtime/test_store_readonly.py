"""`CheckpointStore.for_reading` reads what the writing store wrote, and writes nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from prodigy.runtime.errors import CheckpointError
from prodigy.runtime.store import CheckpointStore, DlqPut, NodeRecord, RecordStatus


def _files(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in directory.rglob("*") if p.is_file() and not p.name.endswith(("-wal", "-shm"))}


def _written(directory: Path) -> CheckpointStore:
    store = CheckpointStore(directory)
    store.open_run("r", resuming=False)
    big = {"stdout": "x" * 100_000}  # past diskcache's inline limit: stored in a file
    store.write("r", [NodeRecord("a", "k1", "f", {}, RecordStatus.DONE, result={"v": 1}),
                      NodeRecord("b", "k2", "f", {"a": "k1"}, RecordStatus.DONE, result=big),
                      DlqPut("map", 3, {"item_id": "item_3", "index": 3, "error": "boom"})])
    store.close()
    return store


def test_reads_inline_and_filed_records_and_the_dlq(tmp_path: Path) -> None:
    _written(tmp_path)
    before = _files(tmp_path)
    store = CheckpointStore.for_reading(tmp_path)
    try:
        store.expect_run("r")
        records = store.load("r", ["a", "b", "missing"])
        assert records["a"].result == {"v": 1}
        assert records["b"].result["stdout"] == "x" * 100_000
        assert store.get("r", "b") == records["b"]
        many = store.load("r", [f"n{i}" for i in range(100)] + ["a", "b"])  # the range scan
        assert set(many) == {"a", "b"} and many["b"] == records["b"]
        assert store.dlq_entries("r") == [{"item_id": "item_3", "index": 3, "error": "boom"}]
        assert "store_version" in set(store)
    finally:
        store.close()
    assert _files(tmp_path) == before


def test_a_missing_store_reads_as_empty_and_is_not_created(tmp_path: Path) -> None:
    store = CheckpointStore.for_reading(tmp_path / "cache")
    assert store.dlq_entries("r") == [] and store.load("r", ["a"] * 100) == {}
    with pytest.raises(CheckpointError, match="holds no records of run r"):
        store.expect_run("r")
    store.close()
    assert not (tmp_path / "cache").exists()


def test_a_pickled_value_is_damage_not_unpickled(tmp_path: Path) -> None:
    _written(tmp_path)
    import diskcache

    cache = diskcache.Cache(str(tmp_path))
    cache.set("node\x1fr\x1fa", {"a": "pickled"})  # a dict: diskcache pickles it
    cache.close()
    store = CheckpointStore.for_reading(tmp_path)
    with pytest.raises(CheckpointError, match="record of node 'a' of run r is damaged"):
        store.get("r", "a")
    store.close()


def test_a_database_that_is_not_a_store_is_unusable(tmp_path: Path) -> None:
    (tmp_path / "cache.db").write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(CheckpointError, match="is unusable"):
        CheckpointStore.for_reading(tmp_path)
