"""PostgreSQL event log (psycopg 3), chosen by a ``postgresql://`` URL.

A commit is durable when it returns as long as the server runs with ``fsync=on`` and
``synchronous_commit=on`` (the defaults; https://www.postgresql.org/docs/current/wal-async-commit.html).
One transaction per :meth:`PostgresEventLog.append`; large batches go through ``COPY`` (one round trip),
small ones through ``executemany`` (pipelined). The schema lives in the connection's ``search_path``
(e.g. ``postgresql://host/db?options=-csearch_path%3Dmyschema``).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg

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
from margincall.store.sql import SqlEventLog, Step, backfill_index

#: Ordered schema migrations: version ``i + 1`` is ``MIGRATIONS[i]`` (a list of steps: SQL statements, or
#: functions of (cursor, placeholder)). Append only.
MIGRATIONS: list[list[Step]] = [
    [
        """CREATE TABLE events (
            seq BIGINT PRIMARY KEY,
            key TEXT,
            ts BIGINT NOT NULL,
            type TEXT NOT NULL,
            payload TEXT NOT NULL,
            result TEXT,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )""",
        "CREATE UNIQUE INDEX events_key ON events (key)",
        """CREATE TABLE snapshots (
            seq BIGINT PRIMARY KEY,
            state TEXT NOT NULL,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )""",
    ],
    [  # the indexes of margincall.store.sql's pages, filled from the events already stored
        "CREATE INDEX events_type ON events (type, seq)",
        """CREATE TABLE event_accounts (
            account TEXT NOT NULL,
            seq BIGINT NOT NULL,
            PRIMARY KEY (account, seq)
        )""",
        "CREATE TABLE fund_events (seq BIGINT PRIMARY KEY)",
        backfill_index,
    ],
]

_COPY = f"COPY events ({_COLUMNS}) FROM STDIN"
#: The index entries of a batch in one statement (one round trip): arrays of accounts, their seqs, and the seqs
#: of the events that moved the insurance fund.
_INDEX = ("WITH f AS (INSERT INTO fund_events (seq) SELECT unnest(%s::bigint[])) "
          "INSERT INTO event_accounts (account, seq) SELECT * FROM unnest(%s::text[], %s::bigint[])")
#: A small batch's events and index entries in one statement: the events' columns as arrays, then _INDEX's.
_INSERT = (f"WITH e AS (INSERT INTO events ({_COLUMNS}) SELECT * FROM unnest(%s::bigint[], %s::text[], "
           "%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[])), "
           + _INDEX.removeprefix("WITH "))
#: Batches at least this long are written with COPY: measured faster than executemany from 4 events up
#: (1.7x at 1000); a smaller one is faster as one INSERT of arrays (with its index entries: one round trip).
COPY_THRESHOLD = 4
#: Arbitrary constant naming the advisory lock that serialises concurrent migrations.
_MIGRATION_LOCK = 0x6D61726763616C6C


class PostgresEventLog(SqlEventLog):
    """:class:`~margincall.store.log.EventLog` in PostgreSQL (tables created in the search_path schema)."""

    PARAM = "%s"
    READ_CHUNK = 10000

    def __init__(self, url: str, *, migrations: Sequence[Sequence[Step]] | None = None) -> None:
        self.url = url
        self._lock = threading.RLock()
        self._closed = False
        self._migrations = MIGRATIONS if migrations is None else migrations
        try:
            self._conn = psycopg.connect(url, autocommit=True)
            self._migrate()
            self._load_tail()
        except psycopg.Error as exc:
            raise StoreError(f"postgres: {exc}") from exc

    def _reconnect(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self._conn.close()
        self._conn = psycopg.connect(self.url, autocommit=True)

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Run a read; a lost connection is re-opened and the read retried once (reads are idempotent)."""
        with self._lock:
            if self._closed:
                raise StoreError("postgres: the log is closed")
            for attempt in (1, 2):
                try:
                    if self._conn.broken or self._conn.closed:
                        self._reconnect()
                    with self._conn.cursor() as cur:
                        cur.execute(sql, params)
                        return cur.fetchall()
                except psycopg.OperationalError as exc:
                    if attempt == 2:
                        raise StoreError(f"postgres: {exc}") from exc
                except psycopg.Error as exc:
                    raise StoreError(f"postgres: {exc}") from exc
            raise AssertionError("unreachable")

    # -- schema -----------------------------------------------------------------------------------------
    def _migrate(self) -> None:
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                "version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            row = cur.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
            current = int(row[0]) if row else 0
            if current > len(self._migrations):
                raise StoreError(f"postgres: schema version {current} is newer than this code knows")
            for version in range(current + 1, len(self._migrations) + 1):
                for step in self._migrations[version - 1]:
                    if isinstance(step, str):
                        cur.execute(step)
                    else:
                        step(cur, "%s")
                cur.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))

    # -- events -----------------------------------------------------------------------------------------
    def append(self, batch: Sequence[tuple[NewEvent, Mapping[str, Any] | None]]) -> list[StoredEvent]:
        if not batch:
            return []
        with self._lock:
            events, rows = chain(batch, self._last_seq, self._last_hash)
            index = index_rows(events)
            try:
                if self._closed:
                    raise StoreError("postgres: the log is closed")
                if self._conn.broken:
                    self._reconnect()
                with self._conn.transaction(), self._conn.cursor() as cur:
                    entries = [index.fund, index.accounts, index.seqs]
                    if len(rows) >= COPY_THRESHOLD:
                        with cur.copy(_COPY) as copy:
                            for r in rows:
                                copy.write_row(r)
                        cur.execute(_INDEX, entries)
                    else:
                        cur.execute(_INSERT, [list(column) for column in zip(*rows, strict=True)] + entries)
            except psycopg.Error as exc:
                # The commit may or may not have reached the server: re-read the tail from the database.
                # (If that fails too, the stale tail is harmless: the next append hits the seq primary key.)
                with contextlib.suppress(StoreError):
                    self._load_tail()
                code = "idempotency_conflict" if "events_key" in str(exc) else None
                raise StoreError(f"postgres: append failed: {exc}", code=code) from exc
            self._last_seq, self._last_hash = events[-1].seq, events[-1].hash
            return events

    def _in(self, values: Sequence[int]) -> tuple[str, list[Any]]:
        return "= ANY(%s)", [list(values)]

    def by_keys(self, keys: Sequence[str]) -> dict[str, StoredEvent]:
        if not keys:
            return {}
        rows = self._fetch(f"SELECT {_COLUMNS} FROM events WHERE key = ANY(%s)", (list(keys),))
        return {row[1]: row_to_event(row) for row in rows}

    # -- snapshots --------------------------------------------------------------------------------------
    def save_snapshot(self, seq: int, state: Mapping[str, Any]) -> None:
        text = canonical_json(state)
        with self._lock:
            try:
                if self._conn.broken:
                    self._reconnect()
                with self._conn.transaction(), self._conn.cursor() as cur:
                    cur.execute(
                        "INSERT INTO snapshots (seq, state) VALUES (%s, %s) "
                        "ON CONFLICT (seq) DO UPDATE SET state = EXCLUDED.state",
                        (seq, text),
                    )
            except psycopg.Error as exc:
                raise StoreError(f"postgres: snapshot failed: {exc}") from exc

    def latest_snapshot(self) -> tuple[int, dict[str, Any]] | None:
        rows = self._fetch("SELECT seq, state FROM snapshots ORDER BY seq DESC LIMIT 1", ())
        return (int(rows[0][0]), json.loads(rows[0][1])) if rows else None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._conn.close()

    def __enter__(self) -> PostgresEventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
