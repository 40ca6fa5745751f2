"""API keys: roles, generation, hashing at rest, lookup.

Keys live in an ``api_keys`` table in the engine's own database (the SQLite file or the PostgreSQL schema of
the event log), created by this module with ``CREATE TABLE IF NOT EXISTS`` (its migration 1). A generated key
reads ``mc_<id>_<secret>``: ``id`` (12 hex digits) is stored in clear to find the row, and only
``HMAC-SHA256(salt, key)`` with a random 16-byte salt per key is stored, so the database never holds a usable
key. A bootstrap admin key given in the settings (any text) is stored the same way under the id
``config-admin``. Lookups are cached in memory by the SHA-256 of the key (keys are never revoked while the
service runs).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from margincall.store import is_postgres_url


class Role(StrEnum):
    ADMIN = "admin"
    FEEDER = "feeder"
    TRADER = "trader"
    VIEWER = "viewer"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id, its role, and (traders) the one account it may see."""

    key_id: str
    role: Role
    account: str | None = None


CONFIG_ADMIN_ID = "config-admin"

_MIGRATION_1 = (
    "CREATE TABLE IF NOT EXISTS api_keys ("
    "id TEXT PRIMARY KEY, salt TEXT NOT NULL, hash TEXT NOT NULL, role TEXT NOT NULL, account TEXT, "
    "created_ms BIGINT NOT NULL)"
)


def _digest(salt: str, key: str) -> str:
    return hmac.new(bytes.fromhex(salt), key.encode(), hashlib.sha256).hexdigest()


def key_id_of(key: str) -> str:
    """The row id a presented key is looked up by (``config-admin`` for keys not in the generated format)."""
    parts = key.split("_", 2)
    if len(parts) == 3 and parts[0] == "mc" and len(parts[1]) == 12:
        return parts[1]
    return CONFIG_ADMIN_ID


class KeyStore:
    """The ``api_keys`` table on SQLite (a second connection to the log's file) or PostgreSQL."""

    def __init__(self, database: str) -> None:
        self._pg = is_postgres_url(database)
        self._lock = threading.Lock()
        self._cache: dict[str, Principal] = {}
        if self._pg:
            import psycopg

            self._conn: Any = psycopg.connect(database, autocommit=True)
        else:
            path = database.removeprefix("sqlite://")
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA busy_timeout=10000")
        self._exec(_MIGRATION_1)

    def _exec(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self._pg:
            sql = sql.replace("?", "%s")
        with self._lock:
            cur = self._conn.execute(sql, params)
            try:
                return list(cur.fetchall())
            except Exception:  # statements without a result set (sqlite returns [], psycopg raises)
                return []

    def create(self, role: Role, account: str | None = None) -> str:
        """A new key for ``role`` (traders: bound to ``account``); the only time the key exists in clear."""
        key_id = secrets.token_hex(6)
        key = f"mc_{key_id}_{secrets.token_urlsafe(32)}"
        salt = secrets.token_hex(16)
        self._exec("INSERT INTO api_keys (id, salt, hash, role, account, created_ms) VALUES (?, ?, ?, ?, ?, ?)",
                   (key_id, salt, _digest(salt, key), role.value, account, time.time_ns() // 1_000_000))
        return key

    def set_config_admin(self, key: str) -> None:
        """Store (or replace) the hash of the admin key given in the settings."""
        salt = secrets.token_hex(16)
        self._exec("DELETE FROM api_keys WHERE id = ?", (CONFIG_ADMIN_ID,))
        self._exec("INSERT INTO api_keys (id, salt, hash, role, account, created_ms) VALUES (?, ?, ?, ?, ?, ?)",
                   (CONFIG_ADMIN_ID, salt, _digest(salt, key), Role.ADMIN.value, None, time.time_ns() // 1_000_000))
        self._cache.clear()

    def has_admin(self) -> bool:
        return bool(self._exec("SELECT 1 FROM api_keys WHERE role = ? LIMIT 1", (Role.ADMIN.value,)))

    def lookup(self, key: str) -> Principal | None:
        """The principal of ``key``, or None when no stored hash matches."""
        if not key or len(key) > 512:
            return None
        cache_key = hashlib.sha256(key.encode()).hexdigest()
        hit = self._cache.get(cache_key)
        if hit is not None:
            return hit
        key_id = key_id_of(key)
        rows = self._exec("SELECT salt, hash, role, account FROM api_keys WHERE id = ?", (key_id,))
        if not rows:
            return None
        salt, stored, role, account = rows[0]
        if not hmac.compare_digest(_digest(str(salt), key), str(stored)):
            return None
        principal = Principal(key_id, Role(role), account)
        self._cache[cache_key] = principal
        return principal

    def count(self) -> int:
        return int(self._exec("SELECT COUNT(*) FROM api_keys")[0][0])

    def close(self) -> None:
        with self._lock, contextlib.suppress(Exception):
            self._conn.close()
