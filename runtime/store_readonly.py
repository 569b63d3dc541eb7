"""The checkpoint store read without writing a byte, for the commands that only look.

`diskcache.Cache(...)` writes when it opens a store (its Settings table, the WAL journal mode,
the directory itself), so on a read-only state dir (a CI artefact, a colleague's copy, a full
disk) `dlq list` or `runs show` failed with "unable to open database file". `ReadOnlyCache`
answers the few calls the store's readers make (`get`, `_sql`, iteration) from the same SQLite
file opened `mode=ro`, and decodes values as diskcache does for the kinds the store writes:
text keys stored raw, text and integer values inline (`MODE_RAW`) or text in a file beside it
(`MODE_TEXT`). A pickled value is never unpickled here: the store writes none, so one is damage.

When the directory cannot be written, SQLite cannot make the WAL's shared-memory file that
`mode=ro` needs; the file is then opened `immutable=1`, which is exact only while no WAL holds
writes not yet merged into it (a driver killed mid-run leaves one): then the user is told.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from prodigy.runtime.errors import CheckpointError

# diskcache's value modes (diskcache.core.MODE_*), part of its file format.
_MODE_RAW, _MODE_BINARY, _MODE_TEXT = 1, 2, 3
_MIN_FILE_SIZE = 2**15  # diskcache's default `disk_min_file_size`, when Settings lacks it
_GET = ("SELECT mode, filename, value FROM Cache WHERE key = ? AND raw = 1"
        " AND (expire_time IS NULL OR expire_time > strftime('%s', 'now'))")


class ReadOnlyCache:
    """The reading side of a `diskcache.Cache` over `directory/cache.db`, opened read-only.
    A store that does not exist yet (or was emptied) reads as an empty one: `expect_run`
    then tells a run's lost records from an empty queue."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._con: sqlite3.Connection | None = None
        self.disk_min_file_size = _MIN_FILE_SIZE
        db = directory / "cache.db"
        if not db.exists() or db.stat().st_size == 0:  # an emptied store has no tables
            return
        try:
            self._con = _connect(db)
            row = self._con.execute("SELECT value FROM Settings WHERE key ="
                                    " 'disk_min_file_size'").fetchone()
        except sqlite3.Error as exc:
            raise CheckpointError(f"checkpoint store {directory} is unusable: {exc}") from None
        if row is not None and isinstance(row[0], int):
            self.disk_min_file_size = row[0]

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def _sql(self, query: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        if self._con is None:  # no store: an empty table answers every range query
            return sqlite3.connect(":memory:").execute("SELECT 1 WHERE 0")
        return self._con.execute(query, params)

    def get(self, key: str, default: Any = None) -> Any:
        if self._con is None:
            return default
        row = self._con.execute(_GET, (key,)).fetchone()
        if row is None:
            return default
        mode, filename, value = row
        if mode == _MODE_RAW:
            return bytes(value) if isinstance(value, bytes | memoryview) else value
        if mode not in (_MODE_TEXT, _MODE_BINARY) or not isinstance(filename, str):
            raise ValueError(f"record {key!r} is stored as diskcache mode {mode}, which "
                             "prodigy never writes")
        try:
            data = (self.directory / filename).read_bytes()
        except FileNotFoundError:  # deleted by a writer since the row was read, as diskcache
            return default
        except OSError as exc:
            raise CheckpointError(f"checkpoint store {self.directory}: cannot read "
                                  f"{filename}: {exc.strerror or exc}") from None
        return data.decode() if mode == _MODE_TEXT else data

    def __iter__(self) -> Iterator[Any]:
        return (key for (key,) in self._sql("SELECT key FROM Cache WHERE raw = 1 ORDER BY rowid"))


def _connect(db: Path) -> sqlite3.Connection:
    """`mode=ro` (sees a live writer's WAL); `immutable=1` when SQLite cannot make the WAL's
    shared-memory file beside an unwritable store and no WAL holds unmerged writes."""
    uri = f"file:{quote(str(db))}"
    con = sqlite3.connect(f"{uri}?mode=ro", uri=True, check_same_thread=False)
    try:
        con.execute("SELECT count(*) FROM Settings").fetchone()
        return con
    except sqlite3.OperationalError:
        con.close()
        wal = db.with_name(db.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise CheckpointError(
                f"checkpoint store {db.parent} is read-only and its journal {wal} holds writes "
                "not yet merged into it (a run stopped mid-way): make the state dir writable "
                "and run the command again") from None
    con = sqlite3.connect(f"{uri}?immutable=1", uri=True, check_same_thread=False)
    con.execute("SELECT count(*) FROM Settings").fetchone()
    return con
