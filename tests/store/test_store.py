"""Event log backends (SQLite, PostgreSQL) and the Journal on a fake ledger (issue #3, item 3)."""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from margincall.store import GENESIS_HASH, NewEvent, StoreError, canonical_json, event_hash, open_log
from margincall.store import postgres as pg_backend
from margincall.store import sqlite as sqlite_backend
from margincall.store.journal import (
    Ack,
    Command,
    GroupCommitter,
    IdempotencyConflict,
    Journal,
    replay,
    verify,
)
from margincall.store.log import EventLog, InvalidPayload
from support.store import FakeLedger, FakeRejected, pg_schema, raw_sql, require_pg


def ev(i: int, key: str | None = None, type_: str = "deposit") -> NewEvent:
    return NewEvent(type_, {"account": "a1", "amount": str(i)}, key, 1000 + i)


def sha(*parts: Any) -> str:
    # Independent statement of the hash rule: sha256 of the canonical JSON list.
    text = json.dumps(list(parts), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- canonical JSON and the hash rule -------------------------------------------------------------------------


def test_canonical_json_sorts_keys_without_spaces():
    assert canonical_json({"b": "1", "a": {"d": [1, 2], "c": None}}) == '{"a":{"c":null,"d":[1,2]},"b":"1"}'
    assert canonical_json({"é": "€"}) == '{"é":"€"}'  # UTF-8 text, not \u escapes


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_canonical_json_is_json_dumps_sorted_compact(value):
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    assert canonical_json(value) == expected
    assert json.loads(canonical_json(value)) == value


@pytest.mark.parametrize("bad", [{"x": float("nan")}, {"x": float("inf")}, {"x": b"bytes"}, {"x": {1, 2}}])
def test_canonical_json_refuses_what_json_cannot_carry(bad):
    with pytest.raises(InvalidPayload) as err:
        canonical_json(bad)
    assert err.value.code == "invalid_payload"


def test_event_hash_is_sha256_of_canonical_list():
    payload = {"b": "2", "a": "1"}
    assert event_hash(GENESIS_HASH, 1, "k", 5, "deposit", canonical_json(payload)) == sha(
        GENESIS_HASH, 1, "k", 5, "deposit", payload
    )
    assert event_hash("ab" * 32, 7, None, 0, 'we"ird', "{}") == sha("ab" * 32, 7, None, 0, 'we"ird', {})
    # Every field is bound: changing any one changes the hash.
    base = event_hash(GENESIS_HASH, 1, "k", 5, "deposit", "{}")
    assert len({base, *(event_hash(*a) for a in [
        ("1" * 64, 1, "k", 5, "deposit", "{}"), (GENESIS_HASH, 2, "k", 5, "deposit", "{}"),
        (GENESIS_HASH, 1, None, 5, "deposit", "{}"), (GENESIS_HASH, 1, "k", 6, "deposit", "{}"),
        (GENESIS_HASH, 1, "k", 5, "fill", "{}"), (GENESIS_HASH, 1, "k", 5, "deposit", '{"a":1}'),
    ])}) == 7


# -- backends ------------------------------------------------------------------------------------------------------


def test_append_numbers_and_chains_events(log: EventLog):
    assert (log.last_seq(), log.last_hash()) == (0, GENESIS_HASH)
    assert log.append([]) == []
    stored = log.append([(ev(1, "k1"), {"balance": "1"}), (ev(2), None)])
    stored += log.append([(ev(3, "k3"), {"balance": "6"})])
    assert [s.seq for s in stored] == [1, 2, 3]
    assert stored[0].prev_hash == GENESIS_HASH
    assert stored[0].hash == sha(GENESIS_HASH, 1, "k1", 1001, "deposit", {"account": "a1", "amount": "1"})
    assert stored[1].prev_hash == stored[0].hash and stored[2].prev_hash == stored[1].hash
    assert stored[2].hash == sha(stored[1].hash, 3, "k3", 1003, "deposit", {"account": "a1", "amount": "3"})
    assert (log.last_seq(), log.last_hash()) == (3, stored[2].hash)
    assert list(log.read()) == stored
    assert list(log.read(after_seq=2)) == stored[2:]
    assert [e.result for e in log.read(results=False)] == [None, None, None]
    assert log.by_key("k3") == stored[2] and log.by_key("nope") is None
    assert log.by_keys(["k1", "k3", "nope", "k1"]) == {"k1": stored[0], "k3": stored[2]}


def test_log_survives_reopen(target: str):
    lg = open_log(target)
    stored = lg.append([(ev(i), {"i": i}) for i in range(1, 6)])
    lg.close()
    lg = open_log(target)
    assert (lg.last_seq(), lg.last_hash()) == (5, stored[-1].hash)
    assert list(lg.read()) == stored
    assert lg.append([(ev(6), None)])[0].prev_hash == stored[-1].hash
    lg.close()


def test_unique_key_is_enforced_by_the_database(log: EventLog):
    log.append([(ev(1, "dup"), None)])
    with pytest.raises(StoreError) as err:
        log.append([(ev(2, "other"), None), (ev(3, "dup"), None)])
    assert err.value.code == "idempotency_conflict"
    # Nothing of the failed batch is stored and the chain continues from event 1.
    assert log.last_seq() == 1 and log.by_key("other") is None
    [first] = log.read()
    second = log.append([(ev(4), None)])[0]
    assert (second.seq, second.prev_hash) == (2, first.hash)


def test_read_pages_through_many_events(log: EventLog):
    log.append([(ev(i), None) for i in range(1, 10_502)])
    seqs = [e.seq for e in log.read()]
    assert seqs == list(range(1, 10_502))  # crosses the backends' page sizes (4096 / 10000)


def test_snapshots(log: EventLog):
    assert log.latest_snapshot() is None
    log.save_snapshot(5, {"x": "1"})
    log.save_snapshot(9, {"x": "2"})
    log.save_snapshot(7, {"x": "3"})
    assert log.latest_snapshot() == (9, {"x": "2"})
    log.save_snapshot(9, {"x": "4"})  # same seq: replaced
    assert log.latest_snapshot() == (9, {"x": "4"})


def _versions(target: str) -> list[int]:
    if target.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(target) as conn:
            return [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")]
    import sqlite3

    db = sqlite3.connect(target)
    try:
        return [r[0] for r in db.execute("SELECT version FROM schema_version ORDER BY version")]
    finally:
        db.close()


def test_migrations_run_once_and_are_idempotent(target: str):
    backend = pg_backend.PostgresEventLog if target.startswith("postgresql://") else sqlite_backend.SqliteEventLog
    base = pg_backend.MIGRATIONS if target.startswith("postgresql://") else sqlite_backend.MIGRATIONS
    n = len(base)
    lg = backend(target)
    assert lg.schema_version() == n
    lg.append([(ev(1, "k"), None)])
    lg.close()
    backend(target).close()  # reopening runs nothing
    assert _versions(target) == list(range(1, n + 1))
    extended = [*base, ["CREATE TABLE extra (x INTEGER)", "INSERT INTO extra (x) VALUES (42)"]]
    for _ in range(2):  # version n + 1 applies once; the second open finds it applied
        lg = backend(target, migrations=extended)
        assert lg.schema_version() == n + 1
        assert lg.last_seq() == 1 and lg.by_key("k") is not None
        lg.close()
    assert _versions(target) == list(range(1, n + 2))
    raw_sql(target, "INSERT INTO extra (x) VALUES (1)")  # table exists exactly once, usable
    with pytest.raises(StoreError, match="newer"):
        backend(target)  # the database is ahead of this code


def test_open_log_picks_backend_from_url_or_env(tmp_path, monkeypatch):
    monkeypatch.delenv("MARGINCALL_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    lg = open_log()
    assert isinstance(lg, sqlite_backend.SqliteEventLog) and lg.path == "margincall.db"
    lg.close()
    monkeypatch.setenv("MARGINCALL_DATABASE_URL", str(tmp_path / "env.db"))
    lg = open_log()
    assert isinstance(lg, sqlite_backend.SqliteEventLog) and lg.path == str(tmp_path / "env.db")
    lg.close()


def test_open_log_env_selects_postgres(monkeypatch):
    require_pg()
    with pg_schema() as url:
        monkeypatch.setenv("MARGINCALL_DATABASE_URL", url)
        lg = open_log()
        assert isinstance(lg, pg_backend.PostgresEventLog)
        lg.close()


def test_sqlite_runs_wal_with_full_sync(tmp_path):
    lg = sqlite_backend.SqliteEventLog(tmp_path / "x.db")
    assert lg._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert lg._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # 2 = FULL
    lg.close()


@pytest.mark.parametrize("size", [1, 3, 4, 5, 17, 255, 256, 257, 341, 1000])
def test_sqlite_stores_a_batch_of_any_size_whole_with_its_index_rows(tmp_path, size: int):
    """A batch goes in as multi-row statements of 256, 64, 16, 4 and 1 rows: whatever its size, every event is
    stored once, in order, each indexed under the accounts its payload names (``account``, then ``to``: 2 rows
    for every third event, 1 for the others)."""
    lg = sqlite_backend.SqliteEventLog(tmp_path / "x.db")
    batch: list[tuple[NewEvent, dict[str, Any] | None]] = []
    for i in range(size):
        payload = {"account": f"a{i % 7}", "amount": str(i)} | ({"to": f"b{i}"} if i % 3 == 0 else {})
        batch.append((NewEvent("transfer" if i % 3 == 0 else "deposit", payload, f"k{i}", 1000 + i), None))
    stored = lg.append(batch)
    lg.append([(ev(size + 1), None)])  # the log goes on after it
    assert [e.seq for e in lg.read()] == list(range(1, size + 2))
    assert [(e.key, e.payload) for e in lg.read()][:size] == [(n.key, n.payload) for n, _ in batch]
    assert stored == list(lg.read())[:size]
    want = sorted([(f"a{i % 7}", i + 1) for i in range(size)] + [(f"b{i}", i + 1) for i in range(0, size, 3)]
                  + [("a1", size + 1)])
    assert sorted(lg._db.execute("SELECT account, seq FROM event_accounts").fetchall()) == want
    lg.close()


def test_postgres_copy_and_executemany_paths_store_the_same_chain():
    require_pg()
    with pg_schema() as a, pg_schema() as b:
        la, lb = open_log(a), open_log(b)
        events = [(ev(i, f"k{i}"), {"i": i}) for i in range(1, 2 * pg_backend.COPY_THRESHOLD + 2)]
        la.append(events)  # one COPY
        for e in events:
            lb.append([e])  # one INSERT each
        assert list(la.read()) == list(lb.read())
        la.close()
        lb.close()


# -- journal ------------------------------------------------------------------------------------------------------


def test_submit_applies_appends_and_acks(log: EventLog):
    j = Journal(log, FakeLedger)
    assert j.submit("account_opened", {"account": "a1"}, ts=10) == Ack(1, {"account": "a1"}, False)
    ack = j.submit("deposit", {"account": "a1", "amount": "250.5"}, key="d1", ts=11)
    assert ack == Ack(2, {"balance": "250.5"}, False)
    assert log.by_key("d1").result == {"balance": "250.5"}  # type: ignore[union-attr]
    assert j.ledger.snapshot()["balances"] == {"a1": "250.5"}


def test_idempotent_repeat_returns_original_ack_and_changes_nothing(log: EventLog):
    j = Journal(log, FakeLedger)
    j.submit("account_opened", {"account": "a1"}, ts=10)
    first = j.submit("deposit", {"account": "a1", "amount": "100"}, key="dep-1", ts=11)
    digest, last = j.ledger.digest(), log.last_seq()
    # Same type and payload (key order is irrelevant: canonical JSON), another ts: the original ack.
    again = j.submit("deposit", {"amount": "100", "account": "a1"}, key="dep-1", ts=99)
    assert again == Ack(first.seq, first.result, True)
    assert (j.ledger.digest(), log.last_seq()) == (digest, last)
    # A fresh journal (after a restart) answers the same from the log.
    assert Journal(log, FakeLedger).submit("deposit", {"account": "a1", "amount": "100"}, key="dep-1") == again
    for type_, payload in [("deposit", {"account": "a1", "amount": "101"}), ("withdrawal", {"account": "a1",
                                                                                            "amount": "100"})]:
        with pytest.raises(IdempotencyConflict) as err:
            j.submit(type_, payload, key="dep-1")
        assert err.value.code == "idempotency_conflict" and err.value.field == "key"
    assert (j.ledger.digest(), log.last_seq()) == (digest, last)
    assert j.ledger.snapshot()["balances"] == {"a1": "100"}


def test_rejection_leaves_log_and_state_untouched(log: EventLog):
    j = Journal(log, FakeLedger)
    j.submit("account_opened", {"account": "a1"}, ts=10)
    digest = j.ledger.digest()
    with pytest.raises(FakeRejected) as err:
        j.submit("withdrawal", {"account": "a1", "amount": "5"}, key="w1", ts=11)
    assert err.value.code == "insufficient_balance"
    assert (j.ledger.digest(), log.last_seq(), log.by_key("w1")) == (digest, 1, None)
    # The key of a rejected event is not burnt: it can be used once the event is valid.
    j.submit("deposit", {"account": "a1", "amount": "5"}, ts=12)
    assert j.submit("withdrawal", {"account": "a1", "amount": "5"}, key="w1", ts=13).seq == 3


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (Command("", {}), "invalid_event"),
        (Command("deposit", [1]), "invalid_payload"),  # type: ignore[arg-type]
        (Command("deposit", {"amount": float("nan")}), "invalid_payload"),
        (Command("deposit", {"account": "a1", "amount": "1"}, key=""), "invalid_key"),
        (Command("deposit", {"account": "a1", "amount": "1"}, key="k" * 201), "invalid_key"),
        (Command("deposit", {"account": "a1", "amount": "1"}, ts=-1), "invalid_timestamp"),
        (Command("deposit", {"account": "a1", "amount": "1"}, ts=True), "invalid_timestamp"),
        (Command("deposit", {"account": "a1", "amount": "1"}, ts=5), "out_of_order"),  # last ts is 10
    ],
)
def test_bad_commands_get_their_code_and_leave_no_trace(log: EventLog, command: Command, code: str):
    j = Journal(log, FakeLedger)
    j.submit("account_opened", {"account": "a1"}, ts=10)
    digest = j.ledger.digest()
    [outcome] = j.submit_many([command])
    assert getattr(outcome, "code", None) == code
    assert (j.ledger.digest(), log.last_seq()) == (digest, 1)


def test_submit_many_mixed_outcomes_and_duplicates_inside_the_batch(log: EventLog):
    j = Journal(log, FakeLedger)
    out = j.submit_many(
        [
            Command("account_opened", {"account": "a1"}, ts=1),
            Command("deposit", {"account": "a1", "amount": "10"}, key="x", ts=2),
            Command("deposit", {"account": "zz", "amount": "10"}, ts=2),  # unknown account
            Command("deposit", {"account": "a1", "amount": "10"}, key="x", ts=3),  # same: duplicate
            Command("deposit", {"account": "a1", "amount": "11"}, key="x", ts=3),  # conflict
            Command("deposit", {"account": "a1", "amount": "1"}, key="y", ts=4),
        ]
    )
    assert out[0] == Ack(1, {"account": "a1"})
    assert out[1] == Ack(2, {"balance": "10"})
    assert isinstance(out[2], FakeRejected) and out[2].code == "unknown_account"
    assert out[3] == Ack(2, {"balance": "10"}, True)
    assert isinstance(out[4], IdempotencyConflict)
    assert out[5] == Ack(3, {"balance": "11"})
    assert log.last_seq() == 3 and j.ledger.snapshot()["balances"] == {"a1": "11"}
    assert verify(log, FakeLedger).ok


class FailingLog:
    """Wraps a log; ``append`` fails (after the ledger applied) while ``fail`` is set."""

    def __init__(self, inner: EventLog) -> None:
        self.inner = inner
        self.fail = False
        self.appends = 0
        self.reads: list[int] = []

    def append(self, batch):  # type: ignore[no-untyped-def]
        self.appends += 1
        if self.fail:
            raise StoreError("disk on fire")
        return self.inner.append(batch)

    def read(self, after_seq=0, *, results=True):  # type: ignore[no-untyped-def]
        self.reads.append(after_seq)
        return self.inner.read(after_seq, results=results)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_failed_write_does_not_leave_the_change_in_memory(log: EventLog):
    flog = FailingLog(log)
    j = Journal(flog, FakeLedger)  # type: ignore[arg-type]
    j.submit("account_opened", {"account": "a1"}, ts=1)
    j.submit("deposit", {"account": "a1", "amount": "7"}, ts=2)
    flog.fail = True
    with pytest.raises(StoreError):
        j.submit_many([Command("deposit", {"account": "a1", "amount": "1000"}, key="big", ts=3)])
    # State = fold of the durable log: the 1000 is gone.
    assert j.ledger.snapshot()["balances"] == {"a1": "7"}
    assert j.ledger.digest() == replay(log, FakeLedger).digest()
    flog.fail = False
    assert j.submit("deposit", {"account": "a1", "amount": "1000"}, key="big", ts=3) == Ack(3, {"balance": "1007"})


def test_snapshots_every_n_events_and_recovery_from_snapshot(log: EventLog):
    j = Journal(log, FakeLedger, snapshot_every=4)
    j.submit("account_opened", {"account": "a1"}, ts=1)
    for i in range(2):
        j.submit("deposit", {"account": "a1", "amount": "1"}, ts=2 + i)
    assert log.latest_snapshot() is None  # 3 events
    j.submit_many([Command("deposit", {"account": "a1", "amount": "1"}, ts=5) for _ in range(6)])  # seq 4..9
    snap = log.latest_snapshot()
    assert snap is not None and snap[0] == 9  # the batch crossed 4 and 8: one snapshot at its end
    assert snap[1]["balances"] == {"a1": "8"}
    j.submit("deposit", {"account": "a1", "amount": "1"}, ts=6)
    flog = FailingLog(log)
    j2 = Journal(flog, FakeLedger)  # type: ignore[arg-type]
    assert flog.reads == [9]  # replays only the tail after the snapshot
    assert j2.ledger.digest() == j.ledger.digest() == replay(log, FakeLedger).digest()


def test_snapshot_ahead_of_log_is_ignored(log: EventLog):
    j = Journal(log, FakeLedger)
    j.submit("account_opened", {"account": "a1"}, ts=1)
    log.save_snapshot(50, {"balances": {"a1": "999"}, "net_deposits": "999", "last_ts": 1, "events_applied": 50})
    assert Journal(log, FakeLedger).ledger.snapshot()["balances"] == {"a1": "0"}


def test_group_committer_batches_concurrent_submits(log: EventLog):
    flog = FailingLog(log)
    j = Journal(flog, FakeLedger)  # type: ignore[arg-type]
    j.submit("account_opened", {"account": "a1"}, ts=1)
    flog.appends = 0
    results: dict[int, list[Ack]] = {}

    def client(t: int) -> None:
        with_futures = [gc.submit("deposit", {"account": "a1", "amount": "1"}, key=f"{t}-{i}") for i in range(50)]
        results[t] = [f.result(timeout=30) for f in with_futures]

    with GroupCommitter(j, max_batch=64, max_wait_ms=20) as gc:
        threads = [threading.Thread(target=client, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        bad = gc.submit("withdrawal", {"account": "a1", "amount": "1000"})
        with pytest.raises(FakeRejected):
            bad.result(timeout=30)
        assert gc.submit_wait("deposit", {"account": "a1", "amount": "1"}, key="0-0").duplicate
    seqs = sorted(a.seq for acks in results.values() for a in acks)
    assert seqs == list(range(2, 202))
    assert flog.appends < 200 / 4  # grouped: far fewer transactions than events
    assert j.ledger.snapshot()["balances"] == {"a1": "200"}
    assert verify(log, FakeLedger).ok


# -- verify -------------------------------------------------------------------------------------------------------


def _filled(log: EventLog) -> Journal:
    j = Journal(log, FakeLedger, snapshot_every=0)
    j.submit("account_opened", {"account": "a1"}, ts=1)
    for i in range(2, 7):
        j.submit("deposit", {"account": "a1", "amount": str(i)}, key=f"k{i}", ts=i)
    return j


def test_verify_passes_on_a_clean_log(log: EventLog):
    j = _filled(log)
    report = verify(log, FakeLedger)
    assert (report.ok, report.events, report.first_bad_seq) == (True, 6, None)
    assert report.digest == j.ledger.digest()


@pytest.mark.parametrize(
    ("sql", "bad_seq", "code"),
    [
        ("UPDATE events SET payload = '{\"account\":\"a1\",\"amount\":\"9000\"}' WHERE seq = 3", 3, "hash_mismatch"),
        ("UPDATE events SET ts = 5 WHERE seq = 4", 4, "hash_mismatch"),
        ("UPDATE events SET key = 'zz' WHERE seq = 5", 5, "hash_mismatch"),
        ("UPDATE events SET prev_hash = hash WHERE seq = 2", 2, "prev_hash_mismatch"),
        ("DELETE FROM events WHERE seq = 4", 4, "seq_gap"),
        ("UPDATE events SET result = '{\"balance\":\"1\"}' WHERE seq = 6", 6, "result_mismatch"),
    ],
)
def test_verify_finds_the_first_tampered_event(target: str, sql: str, bad_seq: int, code: str):
    lg = open_log(target)
    _filled(lg)
    raw_sql(target, sql)
    report = verify(lg, FakeLedger)
    assert (report.ok, report.first_bad_seq, report.code) == (False, bad_seq, code)
    lg.close()


def test_verify_rehashed_forgery_is_caught_by_the_next_link(target: str):
    lg = open_log(target)
    _filled(lg)
    old = lg.by_key("k3")
    assert old is not None
    forged = {"account": "a1", "amount": "9000"}
    new_hash = event_hash(old.prev_hash, old.seq, old.key, old.ts, old.type, canonical_json(forged))
    raw_sql(target, "UPDATE events SET payload = ?, hash = ? WHERE seq = ?", (canonical_json(forged), new_hash, 3))
    report = verify(lg, FakeLedger)
    assert (report.first_bad_seq, report.code) == (3, "result_mismatch")  # stored result says balance 5
    raw_sql(target, "UPDATE events SET result = NULL WHERE seq = 3")
    report = verify(lg, FakeLedger)
    assert (report.first_bad_seq, report.code) == (4, "prev_hash_mismatch")
    lg.close()


def test_verify_checks_conservation_after_every_event(log: EventLog):
    j = _filled(log)
    j.submit("leak", {"account": "a1", "amount": "1"}, ts=10)  # the fake ledger accepts it but loses money
    j.submit("deposit", {"account": "a1", "amount": "1"}, ts=11)
    report = verify(log, FakeLedger)
    assert (report.ok, report.first_bad_seq, report.code, report.events) == (False, 7, "conservation", 6)


def test_verify_checks_the_snapshot(log: EventLog):
    _filled(log)
    log.save_snapshot(4, FakeLedger().snapshot())  # an empty state claimed for seq 4
    report = verify(log, FakeLedger)
    assert (report.first_bad_seq, report.code) == (4, "snapshot_mismatch")


def test_verify_reports_an_event_rejected_on_replay(target: str):
    lg = open_log(target)
    lg.append([(NewEvent("deposit", {"account": "nobody", "amount": "1"}, None, 1), None)])
    report = verify(lg, FakeLedger)
    assert (report.first_bad_seq, report.code) == (1, "rejected_on_replay")
    lg.close()


def test_postgres_lost_connection_fails_the_write_then_recovers():
    """The server drops the connection: the write in flight fails (nothing acknowledged, state rebuilt from
    the log), reads reconnect, and the next submit succeeds on the right chain."""
    require_pg()
    import psycopg

    from support.store import PG_URL

    with pg_schema() as url:
        lg = open_log(url)
        assert isinstance(lg, pg_backend.PostgresEventLog)
        j = Journal(lg, FakeLedger)
        j.submit("account_opened", {"account": "a1"}, ts=1)
        j.submit("deposit", {"account": "a1", "amount": "3"}, ts=2)
        pid = lg._conn.info.backend_pid
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(StoreError):  # no key: no read first, the write meets the dead connection
            j.submit("deposit", {"account": "a1", "amount": "100"}, ts=3)
        assert j.ledger.snapshot()["balances"] == {"a1": "3"}
        assert j.submit("deposit", {"account": "a1", "amount": "100"}, key="k", ts=3) == Ack(3, {"balance": "103"})
        # A keyed submit reads first: that read reconnects, so the write goes through.
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (lg._conn.info.backend_pid,))
        assert j.submit("deposit", {"account": "a1", "amount": "1"}, key="k2", ts=4) == Ack(4, {"balance": "104"})
        assert verify(lg, FakeLedger).ok
        lg.close()
        with pytest.raises(StoreError):
            lg.by_key("k")


def test_closed_log_raises_store_error(target: str):
    lg = open_log(target)
    lg.close()
    for call in (lambda: lg.by_key("k"), lambda: list(lg.read()), lg.latest_snapshot, lambda: lg.append([(ev(1),
                                                                                                          None)])):
        with pytest.raises(StoreError):
            call()
