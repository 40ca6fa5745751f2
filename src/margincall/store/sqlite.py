"""SQLite event log: the default backend (one file, WAL, ``synchronous=FULL``).

With ``journal_mode=WAL`` and ``synchronous=FULL`` SQLite fsyncs the WAL at every commit, so a committed
transaction survives a process crash and a power loss (https://www.sqlite.org/pragma.html#pragma_synchronous).
One transaction per :meth:`SqliteEventLog.append` call: batching many events into one call pays one fsync.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from itertools import chain as _chain
from pathlib import Path
from typing import Any

from margincall.store import prefetch
from margincall.store.log import (
    NewEvent,
    StoredEvent,
    StoreError,
    canonical_json,
    chain,
    index_rows,
    row_to_event,
)
from margincall.store.sql import COLUMNS as _COLUMNS
from margincall.store.sql import SqlEventLog, Step, backfill_index, insert_fund_sql

#: Ordered schema migrations: version ``i + 1`` is ``MIGRATIONS[i]`` (a list of steps: SQL statements, or
#: functions of (connection, placeholder)). Append only.
MIGRATIONS: list[list[Step]] = [
    [
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY,
            key TEXT,
            ts INTEGER NOT NULL,
            type TEXT NOT NULL,
            payload TEXT NOT NULL,
            result TEXT,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )""",
        "CREATE UNIQUE INDEX events_key ON events (key)",
        """CREATE TABLE snapshots (
            seq INTEGER PRIMARY KEY,
            state TEXT NOT NULL,
            created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        )""",
    ],
    [  # the indexes of margincall.store.sql's pages, filled from the events already stored
        # An index entry ends with the rowid (seq): this is (type, seq) without storing seq twice.
        "CREATE INDEX events_type ON events (type)",
        """CREATE TABLE event_accounts (
            account TEXT NOT NULL,
            seq INTEGER NOT NULL,
            PRIMARY KEY (account, seq)
        ) WITHOUT ROWID""",
        "CREATE TABLE fund_events (seq INTEGER PRIMARY KEY)",
        backfill_index,
    ],
]

#: Rows per multi-row INSERT, largest first: a batch is written in statements of these many rows (1,000 rows:
#: 3 × 256 + 3 × 64 + 2 × 16 + 2 × 4). Each row of ``executemany`` is a step of its own — bind, step, reset,
#: the GIL and SQLite's mutex released and taken — and a statement of many rows pays that once (measured: ~3k
#: fewer instructions per event and index row). 256 events bind 2,048 parameters, far below SQLite's limit
#: (32,766 since 3.32).
CHUNKS = (256, 64, 16, 4, 1)


def _insert(db: sqlite3.Connection, statements: dict[int, str], rows: Sequence[Sequence[Any]]) -> None:
    """Every row of ``rows`` through ``statements`` (one of each of :data:`CHUNKS` rows), the fewest first."""
    done, total = 0, len(rows)
    for n in CHUNKS:
        sql = statements[n]
        while total - done >= n:
            db.execute(sql, list(_chain.from_iterable(rows[done : done + n])))
            done += n


def _insert_accounts(db: sqlite3.Connection, accounts: list[str], seqs: list[int]) -> None:
    """The account index entries ``(accounts[i], seqs[i])``, as :func:`_insert` writes rows: a statement of ``n``
    entries binds the ``n`` accounts, then the ``n`` seqs (numbered parameters), so no pair is built."""
    done, total = 0, len(accounts)
    for n in CHUNKS:
        sql = _INSERT_ACCOUNTS[n]
        while total - done >= n:
            end = done + n
            db.execute(sql, accounts[done:end] + seqs[done:end])  # type: ignore[operator]
            done = end


_INSERT = {n: f"INSERT INTO events ({_COLUMNS}) VALUES " + ", ".join([f"({', '.join('?' * 8)})"] * n)
           for n in CHUNKS}
_INSERT_ACCOUNTS = {n: "INSERT INTO event_accounts (account, seq) VALUES "
                    + ", ".join(f"(?{i}, ?{n + i})" for i in range(1, n + 1)) for n in CHUNKS}
_INSERT_FUND = insert_fund_sql("?")
PAGE_SIZE = 16_384
WAL_AUTOCHECKPOINT_PAGES = 2_500  # ~40 MB of 16 KiB pages


class SqliteEventLog(SqlEventLog):
    """:class:`~margincall.store.log.EventLog` in a SQLite file (created with its schema when missing)."""

    PARAM = "?"
    READ_CHUNK = 4096

    def __init__(self, path: str | Path, *, migrations: Sequence[Sequence[Step]] | None = None) -> None:
        self.path = str(path)
        self._prefetch: bool | None = None  # read_for_replay through a reader thread (decided on first use)
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so one append is exactly one transaction.
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            # 16 KiB pages for a new file (an existing one keeps its own): an event row is ~0.7 KB, and bigger
            # pages mean fewer B-tree pages to split, write to the WAL and fsync per batch (~1.5 µs less per
            # appended event here). Must precede the first table and the switch to WAL.
            self._db.execute(f"PRAGMA page_size={PAGE_SIZE}")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=10000")
            # Checkpoint the WAL into the database every ~40 MB instead of every ~4 MB: pages that many
            # batches touch (index, table tail) are copied once instead of ten times. Durability does not
            # depend on it: a commit is durable once its WAL frames are fsynced (synchronous=FULL).
            self._db.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
            self._lock = threading.RLock()
            self._migrate(MIGRATIONS if migrations is None else migrations)
            self._load_tail()
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite {self.path}: {exc}") from exc

    # -- schema -----------------------------------------------------------------------------------------
    def _migrate(self, migrations: Sequence[Sequence[Step]]) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")  # takes the write lock: two processes opening at once migrate once
        try:
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                "version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))"
            )
            current = db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
            if current > len(migrations):
                raise StoreError(f"sqlite {self.path}: schema version {current} is newer than this code knows")
            for version in range(current + 1, len(migrations) + 1):
                for step in migrations[version - 1]:
                    if isinstance(step, str):
                        db.execute(step)
                    else:
                        step(db, "?")
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"sqlite {self.path}: {exc}") from exc

    # -- events -----------------------------------------------------------------------------------------
    def append(self, batch: Sequence[tuple[NewEvent, Mapping[str, Any] | None]]) -> list[StoredEvent]:
        if not batch:
            return []
        with self._lock:
            events, rows = chain(batch, self._last_seq, self._last_hash)
            index = index_rows(events)
            db = self._db
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    _insert(db, _INSERT, rows)
                    _insert_accounts(db, index.accounts, index.seqs)
                    if index.fund:
                        db.executemany(_INSERT_FUND, [(seq,) for seq in index.fund])
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                # Another writer may have appended: re-read the tail so the next append chains correctly.
                with contextlib.suppress(StoreError):
                    self._load_tail()
                code = "idempotency_conflict" if "events.key" in str(exc) else None
                raise StoreError(f"sqlite {self.path}: append failed: {exc}", code=code) from exc
            self._last_seq, self._last_hash = events[-1].seq, events[-1].hash
            return events

    def read_for_replay(self, after_seq: int = 0) -> Iterator[Sequence[Any]]:
        """As :meth:`SqlEventLog.read_for_replay`, read ahead by a thread on its own connection when the log is a
        file (:mod:`margincall.store.prefetch`): SQLite assembles each chunk while the caller folds the last."""
        for rows in self.read_for_replay_chunks(after_seq):
            yield from rows

    def read_for_replay_chunks(self, after_seq: int = 0) -> Iterator[Sequence[Sequence[Any]]]:
        """:meth:`read_for_replay` a chunk at a time (what :func:`margincall.store.journal.fold_log` takes)."""
        if self._prefetch is None:
            self._prefetch = prefetch.supported(self.path)
        if self._prefetch:
            return prefetch.prefetched_chunks(self.path, after_seq, prefetch.MAX_CHUNK, self._fetch)
        return self._paged_replay(after_seq)

    def _in(self, values: Sequence[int]) -> tuple[str, list[Any]]:
        return f"IN ({','.join('?' * len(values))})", list(values)

    def by_keys(self, keys: Sequence[str]) -> dict[str, StoredEvent]:
        found: dict[str, StoredEvent] = {}
        keys = list(dict.fromkeys(keys))
        for i in range(0, len(keys), 500):  # stay under SQLite's bound-parameter limit
            part = keys[i : i + 500]
            marks = ",".join("?" * len(part))
            for row in self._fetch(f"SELECT {_COLUMNS} FROM events WHERE key IN ({marks})", part):
                found[row[1]] = row_to_event(row)
        return found

    # -- snapshots --------------------------------------------------------------------------------------
    def save_snapshot(self, seq: int, state: Mapping[str, Any]) -> None:
        text = canonical_json(state)
        with self._lock:
            try:
                self._db.execute("INSERT OR REPLACE INTO snapshots (seq, state) VALUES (?, ?)", (seq, text))
            except sqlite3.Error as exc:
                raise StoreError(f"sqlite {self.path}: snapshot failed: {exc}") from exc

    def latest_snapshot(self) -> tuple[int, dict[str, Any]] | None:
        rows = self._fetch("SELECT seq, state FROM snapshots ORDER BY seq DESC LIMIT 1", ())
        return (int(rows[0][0]), json.loads(rows[0][1])) if rows else None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> SqliteEventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
