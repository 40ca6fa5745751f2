"""Webhook subscriptions and their delivery state, durable in the engine's own database.

One ``webhooks`` table (created with ``CREATE TABLE IF NOT EXISTS``, its migration 1) in the SQLite file or
the PostgreSQL schema of the event log: the subscription (url, account or NULL for every account, event types,
signing secret, the key that created it and that key's role) and its delivery state — ``cursor`` (every event
with ``seq <= cursor`` was delivered with a 2xx answer or is not one the subscription wants), the failed
``attempts`` at the event ``failing_seq`` just after it, when the next attempt is due, the last error, and
counters. A restart reads the table and resumes each subscription after its cursor.

The secret is stored in clear: the service needs it to sign every delivery (as any webhook sender does). Protect
the database as you protect the events it holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from margincall.api.keys import Principal, Role
from margincall.api.sidedb import SideDb

_MIGRATION_1 = (
    "CREATE TABLE IF NOT EXISTS webhooks ("
    "id TEXT PRIMARY KEY, url TEXT NOT NULL, account TEXT, types TEXT NOT NULL, secret TEXT NOT NULL, "
    "owner_key TEXT NOT NULL, owner_role TEXT NOT NULL, created_ms BIGINT NOT NULL, "
    "cursor BIGINT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, failing_seq BIGINT, "
    "next_retry_ms BIGINT NOT NULL DEFAULT 0, last_error TEXT, last_error_ms BIGINT, "
    "delivered BIGINT NOT NULL DEFAULT 0, last_delivered_ms BIGINT)"
)

_COLUMNS = ("id, url, account, types, secret, owner_key, owner_role, created_ms, cursor, attempts, failing_seq, "
            "next_retry_ms, last_error, last_error_ms, delivered, last_delivered_ms")


@dataclass(frozen=True, slots=True)
class Webhook:
    """A subscription: where to POST which events of which account (None: every account), signed with ``secret``.
    ``owner_key`` / ``owner_role`` are the API key that created it: a trader's webhook sees what that trader
    may see (:func:`margincall.api.views.view_event`)."""

    id: str
    url: str
    account: str | None
    types: frozenset[str]
    secret: str
    owner_key: str
    owner_role: Role
    created_ms: int

    @property
    def principal(self) -> Principal:
        """Whose eyes the deliveries go through."""
        return Principal(self.owner_key, self.owner_role, self.account if self.owner_role is Role.TRADER else None)


@dataclass(frozen=True, slots=True)
class DeliveryState:
    """Where a subscription stands (see the module docstring)."""

    cursor: int
    attempts: int = 0
    failing_seq: int | None = None
    next_retry_ms: int = 0
    last_error: str | None = None
    last_error_ms: int | None = None
    delivered: int = 0
    last_delivered_ms: int | None = None


def _row(row: tuple[Any, ...]) -> tuple[Webhook, DeliveryState]:
    hook = Webhook(str(row[0]), str(row[1]), row[2], frozenset(json.loads(row[3])), str(row[4]), str(row[5]),
                   Role(row[6]), int(row[7]))
    state = DeliveryState(int(row[8]), int(row[9]), None if row[10] is None else int(row[10]), int(row[11]),
                          row[12], None if row[13] is None else int(row[13]), int(row[14]),
                          None if row[15] is None else int(row[15]))
    return hook, state


class WebhookStore:
    """The ``webhooks`` table. Every method is one autocommitted statement (durable when it returns); call them
    from worker threads, not the event loop."""

    def __init__(self, database: str) -> None:
        self._db = SideDb(database)
        try:
            self._db.execute(_MIGRATION_1)
        except Exception:
            self._db.close()
            raise

    def create(self, hook: Webhook, cursor: int) -> DeliveryState:
        self._db.execute(
            "INSERT INTO webhooks (id, url, account, types, secret, owner_key, owner_role, created_ms, cursor) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (hook.id, hook.url, hook.account, json.dumps(sorted(hook.types)), hook.secret, hook.owner_key,
             hook.owner_role.value, hook.created_ms, cursor))
        return DeliveryState(cursor)

    def all(self) -> list[tuple[Webhook, DeliveryState]]:
        return [_row(r) for r in self._db.execute(f"SELECT {_COLUMNS} FROM webhooks ORDER BY created_ms, id")]

    def get(self, hook_id: str) -> tuple[Webhook, DeliveryState] | None:
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM webhooks WHERE id = ?", (hook_id,))
        return _row(rows[0]) if rows else None

    def count_for(self, account: str) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM webhooks WHERE account = ?", (account,))[0][0])

    def delete(self, hook_id: str) -> bool:
        return self._db.changed("DELETE FROM webhooks WHERE id = ?", (hook_id,)) > 0

    def delivered(self, hook_id: str, seq: int, now_ms: int) -> None:
        """Event ``seq`` got a 2xx answer: the cursor moves to it (never back) and the failure state clears."""
        self._db.execute(
            "UPDATE webhooks SET cursor = CASE WHEN cursor < ? THEN ? ELSE cursor END, attempts = 0, "
            "failing_seq = NULL, next_retry_ms = 0, delivered = delivered + 1, last_delivered_ms = ? WHERE id = ?",
            (seq, seq, now_ms, hook_id))

    def failed(self, hook_id: str, seq: int, attempts: int, next_retry_ms: int, error: str, now_ms: int) -> None:
        """Attempt number ``attempts`` at event ``seq`` failed with ``error``; the next one is due at
        ``next_retry_ms``. The cursor does not move."""
        self._db.execute(
            "UPDATE webhooks SET attempts = ?, failing_seq = ?, next_retry_ms = ?, last_error = ?, "
            "last_error_ms = ? WHERE id = ?", (attempts, seq, next_retry_ms, error, now_ms, hook_id))

    def advance(self, hook_id: str, cursor: int) -> None:
        """Events up to ``cursor`` were scanned and none is wanted: move the cursor past them (never back)."""
        self._db.execute("UPDATE webhooks SET cursor = ? WHERE id = ? AND cursor < ? AND failing_seq IS NULL",
                         (cursor, hook_id, cursor))

    def close(self) -> None:
        self._db.close()
