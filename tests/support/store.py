"""Helpers for the store tests: a tiny fake ledger, per-test PostgreSQL schemas, and the crash-test child.

Run as a script it is the crash-test writer::

    python3 tests/support/store.py <sqlite path | postgresql url> <run id>

It opens a Journal on the real ledger, sets up a market and an account (idempotent keys, so every restart
re-submits them harmlessly), then appends deposit and fill events in a tight loop in batches of 1-8 and prints
``ACK <seq>`` (flushed) for every acknowledged event, until it is killed.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from margincall.model.errors import MarginCallError


def _pg_url() -> str:
    """``$MARGINCALL_TEST_DATABASE_URL``, else the local test server as user postgres, else as root."""
    if os.environ.get("MARGINCALL_TEST_DATABASE_URL"):
        return os.environ["MARGINCALL_TEST_DATABASE_URL"]
    import psycopg

    candidates = ["postgresql://postgres@127.0.0.1:5432/test", "postgresql://root@127.0.0.1:5432/test"]
    for url in candidates:
        try:
            psycopg.connect(url, connect_timeout=3).close()
            return url
        except psycopg.Error:
            continue
    return candidates[0]


PG_URL = _pg_url()

MARKET = {"venue": "binance-usdm", "symbol": "BTCUSDT"}
ACCOUNT = {"account": "a1"}
DEPOSIT = {"account": "a1", "asset": "USDT", "amount": "1000"}
BUY = {"account": "a1", "symbol": "BTCUSDT", "side": "buy", "size": "0.01", "price": "60000", "liquidity": "taker"}
SELL = {**BUY, "side": "sell"}


# -- fake ledger ------------------------------------------------------------------------------------------


class FakeRejected(MarginCallError):
    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message, code=code, field=field)


class FakeResult:
    def __init__(self, d: dict[str, Any]) -> None:
        self.d = d

    def to_dict(self) -> dict[str, Any]:
        return self.d


class FakeLedger:
    """Balances per account; ``deposit``/``withdrawal``/``account_opened``; ``leak`` breaks conservation."""

    def __init__(self) -> None:
        self.balances: dict[str, Decimal] = {}
        self.net_deposits = Decimal(0)
        self.last_ts = 0
        self.events_applied = 0

    def apply(self, event_type: str, payload: Mapping[str, Any], ts: int = 0) -> FakeResult:
        if ts < self.last_ts:
            raise FakeRejected("out_of_order", f"ts {ts} < {self.last_ts}", "ts")
        acct = payload.get("account")
        if event_type == "account_opened":
            if acct in self.balances:
                raise FakeRejected("duplicate_account", f"{acct} exists", "account")
            self.balances[str(acct)] = Decimal(0)
            result: dict[str, Any] = {"account": acct}
        elif event_type in ("deposit", "withdrawal", "leak"):
            if acct not in self.balances:
                raise FakeRejected("unknown_account", f"unknown account {acct!r}", "account")
            amount = Decimal(str(payload["amount"]))
            if not amount.is_finite() or amount <= 0:
                raise FakeRejected("invalid_number", "amount must be > 0", "amount")
            sign = -1 if event_type == "withdrawal" else 1
            if sign < 0 and self.balances[acct] < amount:
                raise FakeRejected("insufficient_balance", "withdrawal larger than balance", "amount")
            self.balances[acct] += sign * amount
            if event_type != "leak":  # a leak moves money without a deposit: conservation breaks
                self.net_deposits += sign * amount
            result = {"balance": str(self.balances[acct])}
        else:
            raise FakeRejected("unknown_event_type", f"unknown event type {event_type!r}", "type")
        self.last_ts = ts
        self.events_applied += 1
        return FakeResult(result)

    def snapshot(self) -> dict[str, Any]:
        return {
            "balances": {k: str(v) for k, v in sorted(self.balances.items())},
            "net_deposits": str(self.net_deposits),
            "last_ts": self.last_ts,
            "events_applied": self.events_applied,
        }

    @classmethod
    def from_snapshot(cls, d: Mapping[str, Any]) -> FakeLedger:
        led = cls()
        led.balances = {k: Decimal(v) for k, v in d["balances"].items()}
        led.net_deposits = Decimal(d["net_deposits"])
        led.last_ts = int(d["last_ts"])
        led.events_applied = int(d["events_applied"])
        return led

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.snapshot(), sort_keys=True).encode()).hexdigest()

    def conservation_error(self) -> str | None:
        held = sum(self.balances.values(), Decimal(0))
        return None if held == self.net_deposits else f"held {held} != net deposits {self.net_deposits}"


# -- PostgreSQL -----------------------------------------------------------------------------------------------


def pg_available() -> str | None:
    """None when the test server answers, else why not."""
    import psycopg

    try:
        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip()
    return None


def require_pg() -> None:
    """Skip without a server, but FAIL under CI=true (a missing server must not hide the PostgreSQL tests)."""
    import pytest

    why = pg_available()
    if why is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL at {PG_URL} is required under CI=true: {why}")
        pytest.skip(f"PostgreSQL at {PG_URL} not reachable: {why}")


@contextmanager
def pg_schema() -> Iterator[str]:
    """A fresh schema, yielded as a URL whose search_path points at it; dropped afterwards."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{name}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def raw_sql(target: str, sql: str, params: tuple[Any, ...] = ()) -> None:
    """Run one statement directly against the log's database (for tampering tests)."""
    if target.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]
    else:
        import sqlite3

        db = sqlite3.connect(target, isolation_level=None)
        db.execute(sql, params)
        db.close()


# -- crash-test writer --------------------------------------------------------------------------------------------


def crash_writer(target: str, run_id: str) -> None:
    from margincall.ledger import Ledger
    from margincall.store import open_log
    from margincall.store.journal import Command, Journal

    rng = random.Random(run_id)
    journal = Journal(open_log(target), Ledger, snapshot_every=25)
    for ack in journal.submit_many(
        [
            Command("market_listed", MARKET, key="setup-market", ts=1),
            Command("account_opened", ACCOUNT, key="setup-account", ts=1),
        ]
    ):
        if isinstance(ack, MarginCallError):
            raise ack
    out = sys.stdout
    i = 0
    while True:
        batch = []
        for _ in range(rng.randint(1, 8)):
            i += 1
            kind = (i - 1) % 3  # deposit, buy, sell: the position stays small and funded
            payload = DEPOSIT if kind == 0 else BUY if kind == 1 else SELL
            batch.append(Command("deposit" if kind == 0 else "fill", payload, key=f"{run_id}-{i}"))
        for outcome in journal.submit_many(batch):
            if isinstance(outcome, MarginCallError):
                raise outcome
            out.write(f"ACK {outcome.seq}\n")
        out.flush()


if __name__ == "__main__":
    crash_writer(sys.argv[1], sys.argv[2])
