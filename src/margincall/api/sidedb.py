"""A connection to the engine's own database for the service's side tables (webhooks; the same pattern as the
key store): a second connection to the log's SQLite file, or a PostgreSQL connection to the log's URL (whose
``search_path`` names the log's schema). Autocommit: every statement is its own durable transaction (the file is
in WAL mode with ``synchronous=FULL`` by default, set by the log). Thread-safe: one lock per connection.

Statements are written with ``?`` placeholders and translated for psycopg.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from typing import Any

from margincall.store import is_postgres_url


class SideDb:
    def __init__(self, database: str) -> None:
        self.postgres = is_postgres_url(database)
        self._url = database
        self._closed = False
        self._lock = threading.Lock()
        if self.postgres:
            import psycopg

            self._conn: Any = psycopg.connect(database, autocommit=True)
        else:
            path = database.removeprefix("sqlite://")
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA busy_timeout=10000")

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; its rows (none for statements without a result set)."""
        with self._lock:
            cur = self._run(sql, params)
            return [] if cur.description is None else list(cur.fetchall())

    def changed(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        """Run one data-changing statement; the number of rows it changed."""
        with self._lock:
            return int(self._run(sql, params).rowcount)

    def _run(self, sql: str, params: tuple[Any, ...]) -> Any:
        if self._closed:
            raise RuntimeError("the database connection is closed")
        if not self.postgres:
            return self._conn.execute(sql, params)
        if self._conn.broken or self._conn.closed:  # the server restarted: a new connection (once per call)
            import psycopg

            self._conn = psycopg.connect(self._url, autocommit=True)
        return self._conn.execute(sql.replace("?", "%s"), params)

    def close(self) -> None:
        with self._lock, contextlib.suppress(Exception):
            self._closed = True
            self._conn.close()
