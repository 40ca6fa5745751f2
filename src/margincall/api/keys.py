"""API keys: roles, generation, hashing at rest, lookup.

Keys live in an ``api_keys`` table in the engine's own database (the SQLite file or the PostgreSQL schema of
the event log), created by this module with ``CREATE TABLE IF NOT EXISTS`` (its migration 1). A generated key
reads ``mc_<id>_<secret>``: ``id`` (12 hex digits) is stored in clear to find the row, and only
``HMAC-SHA256(salt, key)`` with a random 16-byte salt per key is stored, so the database never holds a usable
key. A bootstrap admin key given in the settings (any text) is stored the same way under the id
``config-admin``. Lookups are cached in memory by the SHA-256 of the key; revoking or rotating a key clears the
cache, so a revoked key is refused from the next request on.

Each key belongs to a **principal** (migration 2): the id of the key it was first issued as. Rotation issues a new
key for the same principal (same role and account) and revokes the old one, at once or after a grace period, so
what is scoped to the principal (its idempotency keys) survives a rotation. Revocations and rotations are also
recorded in the event log by the service (``audit`` events).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from margincall.api.sidedb import SideDb


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
    #: The principal the key belongs to (stable across rotations): the scope of its idempotency keys.
    principal: str = ""

    @property
    def scope(self) -> str:
        return self.principal or self.key_id


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A stored key as an admin may list it (never its hash)."""

    key_id: str
    principal: str
    role: Role
    account: str | None
    created_ms: int
    revoked_ms: int | None


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
        self._db = SideDb(database)
        self._cache: dict[str, tuple[Principal, int | None]] = {}  # sha256(key) -> (principal, revoked from)
        self._exec(_MIGRATION_1)
        self._migrate_2()

    def _exec(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._db.execute(sql, params)

    def _migrate_2(self) -> None:
        """Add ``principal`` (defaults to the key's own id) and ``revoked_ms`` (NULL: valid) to older tables."""
        try:
            self._exec("SELECT principal, revoked_ms FROM api_keys LIMIT 0")
        except Exception:
            self._exec("ALTER TABLE api_keys ADD COLUMN principal TEXT")
            self._exec("ALTER TABLE api_keys ADD COLUMN revoked_ms BIGINT")
        self._exec("UPDATE api_keys SET principal = id WHERE principal IS NULL")

    def create(self, role: Role, account: str | None = None, principal: str | None = None) -> str:
        """A new key for ``role`` (traders: bound to ``account``); the only time the key exists in clear."""
        key_id = secrets.token_hex(6)
        key = f"mc_{key_id}_{secrets.token_urlsafe(32)}"
        salt = secrets.token_hex(16)
        self._exec("INSERT INTO api_keys (id, salt, hash, role, account, created_ms, principal) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (key_id, salt, _digest(salt, key), role.value, account, _now_ms(), principal or key_id))
        return key

    def info(self, key_id: str) -> KeyInfo | None:
        rows = self._exec("SELECT id, principal, role, account, created_ms, revoked_ms FROM api_keys WHERE id = ?",
                          (key_id,))
        return _info(rows[0]) if rows else None

    def list(self) -> list[KeyInfo]:
        rows = self._exec("SELECT id, principal, role, account, created_ms, revoked_ms FROM api_keys "
                          "ORDER BY created_ms, id")
        return [_info(r) for r in rows]

    def principal_active(self, key_id: str) -> bool:
        """Whether the principal of ``key_id`` still holds a valid key (``key_id`` itself, or a rotation of it)."""
        return bool(self._exec(
            "SELECT 1 FROM api_keys WHERE principal = (SELECT principal FROM api_keys WHERE id = ?) "
            "AND (revoked_ms IS NULL OR revoked_ms > ?) LIMIT 1", (key_id, _now_ms())))

    def revoke(self, key_id: str, at_ms: int | None = None) -> KeyInfo:
        """Revoke ``key_id`` now (or from ``at_ms``, a rotation's grace period); KeyError when unknown."""
        if self.info(key_id) is None:
            raise KeyError(key_id)
        self._exec("UPDATE api_keys SET revoked_ms = ? WHERE id = ? AND (revoked_ms IS NULL OR revoked_ms > ?)",
                   (at_ms if at_ms is not None else _now_ms(), key_id, at_ms if at_ms is not None else _now_ms()))
        self._cache.clear()
        info = self.info(key_id)
        assert info is not None
        return info

    def rotate(self, key_id: str, grace_ms: int = 0) -> tuple[str, KeyInfo]:
        """A new key for the principal of ``key_id`` (same role and account), and the old key, revoked after
        ``grace_ms``; KeyError when unknown, ValueError when already revoked."""
        old = self.info(key_id)
        if old is None:
            raise KeyError(key_id)
        if old.revoked_ms is not None and old.revoked_ms <= _now_ms():
            raise ValueError(f"key {key_id} is revoked")
        key = self.create(old.role, old.account, old.principal)
        return key, self.revoke(key_id, _now_ms() + grace_ms)

    def set_config_admin(self, key: str) -> None:
        """Store (or replace) the hash of the admin key given in the settings."""
        salt = secrets.token_hex(16)
        self._exec("DELETE FROM api_keys WHERE id = ?", (CONFIG_ADMIN_ID,))
        self._exec("INSERT INTO api_keys (id, salt, hash, role, account, created_ms, principal) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (CONFIG_ADMIN_ID, salt, _digest(salt, key), Role.ADMIN.value, None, _now_ms(), CONFIG_ADMIN_ID))
        self._cache.clear()

    def has_admin(self) -> bool:
        return bool(self._exec("SELECT 1 FROM api_keys WHERE role = ? AND revoked_ms IS NULL LIMIT 1",
                               (Role.ADMIN.value,)))

    def lookup(self, key: str) -> Principal | None:
        """The principal of ``key``, or None when no stored hash matches."""
        if not key or len(key) > 512:
            return None
        cache_key = hashlib.sha256(key.encode()).hexdigest()
        hit = self._cache.get(cache_key)
        if hit is not None:
            principal, until = hit
            if until is None or _now_ms() < until:
                return principal
            return None
        key_id = key_id_of(key)
        rows = self._exec("SELECT salt, hash, role, account, principal, revoked_ms FROM api_keys WHERE id = ?",
                          (key_id,))
        if not rows:
            return None
        salt, stored, role, account, owner, revoked = rows[0]
        if not hmac.compare_digest(_digest(str(salt), key), str(stored)):
            return None
        until = None if revoked is None else int(revoked)
        if until is not None and _now_ms() >= until:
            return None
        principal = Principal(key_id, Role(role), account, str(owner or key_id))
        self._cache[cache_key] = (principal, until)
        return principal

    def count(self) -> int:
        return int(self._exec("SELECT COUNT(*) FROM api_keys")[0][0])

    def close(self) -> None:
        self._db.close()

def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _info(row: tuple[Any, ...]) -> KeyInfo:
    key_id, principal, role, account, created, revoked = row
    return KeyInfo(str(key_id), str(principal or key_id), Role(role), account, int(created),
                   None if revoked is None else int(revoked))
