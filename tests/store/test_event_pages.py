"""``EventLog.page``: pages of the event log read through its indexes (by type, by account, by insurance-fund
movement), the same events as a full scan, at a cost that does not grow with the log.

The expected events come from an independent filter over a full read of the log
(:mod:`support.event_logs`); the cost is counted (index entries and rows read, and the plans SQLite chose),
never timed.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from margincall.store import NewEvent, open_log
from margincall.store import postgres as pg_backend
from margincall.store import sqlite as sqlite_backend
from margincall.store.log import GENESIS_HASH, EventPage, chain
from margincall.store.sql import COLUMNS
from support.event_logs import ACCOUNTS, TYPES, append_in_batches, expected, random_log


def page_all(log: Any, limit: int, max_scan: int | None = None, after: int = 0, **query: Any) -> list[int]:
    """Every page of a query, followed by ``next_after`` until ``more`` is False: the seqs it returned."""
    seqs: list[int] = []
    for _ in range(100_000):
        page: EventPage = log.page(after, limit, max_scan=max_scan, **query)
        got = [e.seq for e in page.events]
        assert len(got) <= limit
        assert got == sorted(set(got)) and all(after < s <= page.next_after for s in got)
        seqs += got
        if not page.more:
            # The end: the cursor stands at the end of the range, and nothing is found after it.
            assert page.next_after >= after
            assert log.page(page.next_after, limit, max_scan=max_scan, **query).events == []
            return seqs
        assert page.next_after > after  # a page that finds nothing still moves the cursor on
        after = page.next_after
    raise AssertionError("paging did not end")


def queries() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={
        "types": st.frozensets(st.sampled_from(TYPES), max_size=3),
        "fund": st.booleans(),
        "account": st.sampled_from((*ACCOUNTS, "nobody")),
        "since": st.integers(990, 1200),
        "until": st.integers(990, 1200),
    })


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), n=st.integers(0, 60), query=queries(), limit=st.integers(1, 5),
       max_scan=st.integers(1, 12) | st.none(), after=st.integers(0, 70))
def test_paging_returns_exactly_the_events_of_a_full_scan(seed, n, query, limit, max_scan, after):
    rng = random.Random(seed)
    log = sqlite_backend.SqliteEventLog(":memory:")
    try:
        append_in_batches(log, random_log(rng, n), rng)
        events = list(log.read())
        assert page_all(log, limit, max_scan, after, **query) == expected(events, after=after, **query)
    finally:
        log.close()


QUERIES = [
    {}, {"types": frozenset({"adl", "liquidation"})}, {"fund": True}, {"types": frozenset({"mark"}), "fund": True},
    {"account": "a"}, {"account": "d", "types": frozenset({"adl"})}, {"account": "b", "fund": True},
    {"account": "c", "types": frozenset({"socialized_loss", "transfer"}), "fund": True, "since": 1100},
    {"since": 1050, "until": 1150}, {"until": 1000}, {"since": 10**9}, {"account": "a", "since": 1200},
    {"types": frozenset()},
]


@pytest.mark.parametrize("limit,max_scan", [(1, 1), (3, 7), (50, None)])
def test_paging_on_both_backends_matches_a_full_scan(target: str, limit: int, max_scan: int | None):
    rng = random.Random(7)
    log = open_log(target)
    try:
        append_in_batches(log, random_log(rng, 300), rng)
        events = list(log.read())
        for q in QUERIES:
            assert page_all(log, limit, max_scan, **q) == expected(events, **q), q
    finally:
        log.close()


def test_a_cursor_at_the_end_of_int64_finds_nothing_on_both_backends(target: str):
    """The largest cursor the API takes (``after`` = 2**63 − 1) with a ``since`` bound is an empty page whose
    cursor stays put: nothing lies past it, and the search for ``since`` must not step to 2**63 (outside
    SQLite's and PostgreSQL's integers)."""
    rng = random.Random(3)
    log = open_log(target)
    try:
        append_in_batches(log, random_log(rng, 20), rng)
        for query in ({"since": 5}, {"since": 5, "until": 5, "account": ACCOUNTS[0], "types": frozenset()}, {}):
            page = log.page(2**63 - 1, 1, **query)
            assert (page.events, page.next_after, page.more) == ([], 2**63 - 1, False), query
    finally:
        log.close()


def test_an_existing_log_is_indexed_once_when_opened(target: str):
    """A log written before the indexes existed (schema version 1) gets them filled from its events the first
    time it is opened; later opens find them there (a second fill would break their primary keys)."""
    pg = target.startswith("postgresql://")
    backend: Any = pg_backend.PostgresEventLog if pg else sqlite_backend.SqliteEventLog
    base = pg_backend.MIGRATIONS if pg else sqlite_backend.MIGRATIONS
    rng = random.Random(3)
    backend(target, migrations=base[:1]).close()
    batch = random_log(rng, 160)
    _, rows = chain(batch[:120], 0, GENESIS_HASH)  # the rows a version-1 log held, without indexes
    insert = f"INSERT INTO events ({COLUMNS}) VALUES ({', '.join(['%s' if pg else '?'] * 8)})"
    if pg:
        import psycopg

        with psycopg.connect(target, autocommit=True) as conn, conn.cursor() as cur:
            cur.executemany(insert, rows)
    else:
        import sqlite3

        db = sqlite3.connect(target)
        with db:
            db.executemany(insert, rows)
        db.close()
    for _ in range(2):
        log = backend(target)
        assert log.schema_version() == len(base)
        events = list(log.read())
        for q in QUERIES:
            assert page_all(log, 4, 9, **q) == expected(events, **q), q
        log.close()
    log = backend(target)  # and it goes on indexing what is appended next
    append_in_batches(log, batch[120:], rng)
    events = list(log.read())
    for q in QUERIES:
        assert page_all(log, 4, 9, **q) == expected(events, **q), q
    log.close()


# -- cost ----------------------------------------------------------------------------------------------------


def periodic_log(n: int) -> Iterator[list[tuple[NewEvent, dict[str, Any] | None]]]:
    """``n`` events in batches of 1000, one pattern over and over: fills of 50 accounts in turn, an ADL every
    29 events (``acct1`` bankrupt), a liquidation of ``acct2`` paying the fund every 31, three events per ms."""
    batch: list[tuple[NewEvent, dict[str, Any] | None]] = []
    for i in range(n):
        acct, ts = f"acct{i % 50}", 1000 + i // 3
        result: dict[str, Any] | None = None
        if i % 29 == 0:
            ev = NewEvent("adl", {"account": acct, "bankrupt_account": "acct1"}, None, ts)
        elif i % 31 == 0:
            ev = NewEvent("liquidation", {"account": "acct2"}, None, ts)
            result = {"postings": [{"from": "wallet:acct2", "to": "insurance", "asset": "USDT", "amount": "1",
                                    "memo": "m"}]}
        else:
            ev = NewEvent("fill", {"account": acct, "i": str(i)}, None, ts)
            result = {"postings": [{"from": f"wallet:{acct}", "to": "fees", "asset": "USDT", "amount": "1",
                                    "memo": "m"}]}
        batch.append((ev, result))
        if len(batch) == 1000:
            yield batch
            batch = []
    if batch:
        yield batch


LIMIT, MAX_SCAN = 10, 100
COST_QUERIES: list[tuple[str, dict[str, Any], int]] = [
    # name, query, the most a page may read (index entries + event rows) for LIMIT events, by kind of query
    ("every event", {}, LIMIT),
    ("public types", {"types": frozenset({"liquidation", "partial_liquidation", "adl"})}, 4 * LIMIT),
    ("insurance fund", {"fund": True}, 2 * LIMIT),
    ("one account", {"account": "acct7"}, 2 * LIMIT),
    ("account and types", {"account": "acct1", "types": frozenset({"adl"})}, 2 * MAX_SCAN + LIMIT),
    ("account and fund", {"account": "acct2", "fund": True}, 3 * MAX_SCAN + LIMIT),
    ("time window", {"since": 1100, "until": 1300}, LIMIT),
    ("account in a time window", {"account": "acct3", "since": 1100, "until": 1300}, 2 * LIMIT),
]
SIZES = (1_000, 50_000)


@pytest.fixture(scope="module")
def small_and_large(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    logs = []
    for n in SIZES:
        log = sqlite_backend.SqliteEventLog(tmp_path_factory.mktemp("cost") / f"{n}.db")
        for batch in periodic_log(n):
            log.append(batch)
        logs.append(log)
    yield logs[0], logs[1]
    for log in logs:
        log.close()


@pytest.mark.parametrize("name,query,bound", COST_QUERIES, ids=[c[0] for c in COST_QUERIES])
def test_a_page_reads_as_many_rows_on_a_log_of_50k_events_as_on_one_of_1k(small_and_large, name, query, bound):
    logs = small_and_large
    for log in logs:
        log._ts_bounds.clear()
    for after in (0, 300):  # a first page, and one from inside the small log
        pages = [log.page(after, LIMIT, max_scan=MAX_SCAN, **query) for log in logs]
        assert len(pages[0].events) == LIMIT
        assert [e.seq for e in pages[0].events] == [e.seq for e in pages[1].events]
        assert pages[0].examined == pages[1].examined <= bound
        # since / until become seqs by a binary search (log2 of the log's size) the first time they are asked
        for page, n in zip(pages, SIZES, strict=True):
            assert page.probes <= 2 * (math.log2(n) + 2)
    first = [log.page(0, LIMIT, max_scan=MAX_SCAN, **query) for log in logs]
    follow = [log.page(p.next_after, LIMIT, max_scan=MAX_SCAN, **query) for log, p in zip(logs, first, strict=True)]
    assert [e.seq for e in follow[0].events] == [e.seq for e in follow[1].events]
    assert follow[0].examined == follow[1].examined <= bound
    assert follow[0].probes == follow[1].probes <= 1  # and then they are remembered


def test_a_sparse_query_reads_at_most_max_scan_entries_per_page_and_moves_on(small_and_large):
    """``acct7`` is deleveraged once in 1,450 events (its ADLs are i ≡ 7 mod 50 and i ≡ 0 mod 29: i = 957,
    2407, …, 34 of them below 50,000) among its 969 index entries: each page reads at most MAX_SCAN of them,
    comes back with at most a few events and the cursor moved on, and together the pages hold exactly the
    events of a full scan."""
    _, large = small_and_large
    query = {"account": "acct7", "types": frozenset({"adl"})}
    after, seqs, pages = 0, [], 0
    while True:
        page = large.page(after, LIMIT, max_scan=MAX_SCAN, **query)
        assert page.examined <= 2 * MAX_SCAN + LIMIT
        seqs += [e.seq for e in page.events]
        pages += 1
        if not page.more:
            break
        assert page.next_after > after
        after = page.next_after
    assert seqs == expected(large.read(), **query) and len(seqs) == 34 and seqs[0] == 958
    # acct7's turns (i ≡ 7 mod 50) less those taken by acct2's liquidations (i ≡ 0 mod 31 but not mod 29): 969
    # entries, 100 a page, the tenth one partial and the last
    entries = sum(1 for i in range(50_000) if i % 50 == 7 and not (i % 31 == 0 and i % 29 != 0))
    assert entries == 969 and pages == math.ceil(entries / MAX_SCAN) == 10


_FULL_SCAN = re.compile(r"^SCAN (events|e|a|f|event_accounts|fund_events)\b(?! USING)")


@pytest.mark.parametrize("name,query,bound", COST_QUERIES, ids=[c[0] for c in COST_QUERIES])
def test_every_statement_of_a_page_searches_an_index(small_and_large, monkeypatch, name, query, bound):
    """SQLite's own plan of every statement a page runs: a search of an index or of the primary key, never a
    scan of a whole table and never a sort of what it read."""
    _, large = small_and_large
    ran: list[tuple[str, Any]] = []
    fetch = large._fetch

    def recording(sql: str, params: Any) -> Any:
        ran.append((sql, params))
        return fetch(sql, params)

    monkeypatch.setattr(large, "_fetch", recording)
    large._ts_bounds.clear()
    large.page(0, LIMIT, max_scan=MAX_SCAN, **query)
    large.page(25_000, LIMIT, max_scan=MAX_SCAN, **query)
    assert ran
    for sql, params in ran:
        plan = [row[3] for row in large._db.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
        assert not any(_FULL_SCAN.match(step) or "TEMP B-TREE" in step for step in plan), (sql, plan)
        assert any(step.startswith("SEARCH") for step in plan) or sql == "SELECT MAX(seq) FROM events", (sql, plan)


_PG_FULL_SCAN = re.compile(r"Seq Scan on (events|event_accounts|fund_events)\b|Merge Join|Hash Join")


def test_postgres_plans_every_statement_of_a_page_on_an_index():
    """PostgreSQL's plans (with statistics) for the statements of each kind of page on 20k events: index
    scans and lookups by key, never a sequential scan of a table or a join over a whole range."""
    from support.store import pg_schema, require_pg

    require_pg()
    with pg_schema() as url:
        log = pg_backend.PostgresEventLog(url)
        try:
            for batch in periodic_log(20_000):
                log.append(batch)
            log._conn.execute("ANALYZE")
            ran: list[tuple[str, Any]] = []
            fetch = log._fetch

            def recording(sql: str, params: Any) -> Any:
                ran.append((sql, params))
                return fetch(sql, params)

            log._fetch = recording  # type: ignore[method-assign]
            for _name, query, _bound in COST_QUERIES:
                log.page(0, LIMIT, max_scan=MAX_SCAN, **query)
                log.page(10_000, LIMIT, max_scan=MAX_SCAN, **query)
            assert ran
            for sql, params in ran:
                plan = "\n".join(row[0] for row in fetch(f"EXPLAIN {sql}", params))
                assert not _PG_FULL_SCAN.search(plan), (sql, plan)
        finally:
            log.close()
