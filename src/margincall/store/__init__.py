"""Durable event log for the ledger: SQLite (default) or PostgreSQL, hash-chained, with snapshots.

``open_log(target)`` picks the backend: a ``postgresql://`` (or ``postgres://``) URL opens PostgreSQL,
anything else is a SQLite file path. Without a target, ``$MARGINCALL_DATABASE_URL`` is used when set,
else the SQLite file ``margincall.db`` in the working directory (issue #3, item 3).
"""

from __future__ import annotations

import os
from pathlib import Path

from margincall.store.log import (
    GENESIS_HASH,
    EventLog,
    InvalidPayload,
    NewEvent,
    StoredEvent,
    StoreError,
    canonical_json,
    event_hash,
)

#: SQLite file used when neither a target nor ``MARGINCALL_DATABASE_URL`` is given.
DEFAULT_SQLITE_PATH = "margincall.db"
ENV_VAR = "MARGINCALL_DATABASE_URL"


def is_postgres_url(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def open_log(url_or_path: str | Path | None = None) -> EventLog:
    """Open (creating and migrating when needed) the event log at ``url_or_path``; see the module docstring."""
    target = url_or_path if url_or_path is not None else os.environ.get(ENV_VAR) or DEFAULT_SQLITE_PATH
    if isinstance(target, str) and is_postgres_url(target):
        from margincall.store.postgres import PostgresEventLog

        return PostgresEventLog(target)
    if isinstance(target, str) and target.startswith("sqlite://"):
        target = target.removeprefix("sqlite://")
    from margincall.store.sqlite import SqliteEventLog

    return SqliteEventLog(target)


__all__ = [
    "DEFAULT_SQLITE_PATH",
    "ENV_VAR",
    "GENESIS_HASH",
    "EventLog",
    "InvalidPayload",
    "NewEvent",
    "StoreError",
    "StoredEvent",
    "canonical_json",
    "event_hash",
    "is_postgres_url",
    "open_log",
]
