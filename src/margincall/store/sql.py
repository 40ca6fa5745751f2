"""What the SQL backends share: the events table's columns, its indexes and the paged reads over them.

A backend sets :attr:`SqlEventLog.PARAM` (its driver's placeholder) and :attr:`READ_CHUNK`, keeps
``_last_seq`` / ``_last_hash`` up to date, and implements ``_fetch(sql, params) -> list[tuple]`` and
``_in(values) -> (sql, params)`` (``seq`` among ``values``).

The indexes behind :meth:`SqlEventLog.page` (schema version 2, written in the transaction of the events they
index): ``events (type, seq)``; ``event_accounts (account, seq)``, one row per account an event concerns; and
``fund_events (seq)``, the events whose result moved the insurance fund.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any

from margincall.store.log import (
    GENESIS_HASH,
    EventPage,
    StoredEvent,
    index_rows,
    replay_row,
    row_to_event,
    row_to_event_without_result,
)

COLUMNS = "seq, key, ts, type, payload, result, prev_hash, hash"
COLUMNS_WITHOUT_RESULT = "seq, key, ts, type, payload, NULL, prev_hash, hash"  # replay does not read results
#: A migration step: an SQL statement, or a function of (cursor, placeholder) for what SQL alone cannot do.
Step = str | Callable[[Any, str], None]
#: A page reading ``account`` and ``types`` together reads at most this many index entries per event asked for.
SCAN_FACTOR = 20


def insert_accounts_sql(p: str) -> str:
    return f"INSERT INTO event_accounts (account, seq) VALUES ({p}, {p})"


def insert_fund_sql(p: str) -> str:
    return f"INSERT INTO fund_events (seq) VALUES ({p})"


def backfill_index(cur: Any, p: str) -> None:
    """Index the events already stored (the migration that adds the indexes), a chunk at a time, with the rule
    that indexes new ones (:func:`margincall.store.log.index_rows`)."""
    last = 0
    while True:
        rows = cur.execute(f"SELECT {COLUMNS} FROM events WHERE seq > {p} ORDER BY seq LIMIT {p}",
                           (last, 4096)).fetchall()
        if not rows:
            return
        index = index_rows([row_to_event(r) for r in rows])
        if index.accounts:
            cur.executemany(insert_accounts_sql(p), list(zip(index.accounts, index.seqs, strict=True)))
        if index.fund:
            cur.executemany(insert_fund_sql(p), [(seq,) for seq in index.fund])
        last = rows[-1][0]


class SqlEventLog:
    PARAM = "?"
    READ_CHUNK = 4096
    _last_seq: int
    _last_hash: str

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _in(self, values: Sequence[int]) -> tuple[str, list[Any]]:
        """``seq`` among ``values``: the SQL condition and its parameters."""
        raise NotImplementedError

    def read(self, after_seq: int = 0, *, results: bool = True) -> Iterator[StoredEvent]:
        # Pages by seq (no cursor held open across yields), so the caller may append while iterating.
        p = self.PARAM
        sql = (f"SELECT {COLUMNS if results else COLUMNS_WITHOUT_RESULT} FROM events WHERE seq > {p} "
               f"ORDER BY seq LIMIT {p}")
        convert = row_to_event if results else row_to_event_without_result
        last = after_seq
        while True:
            rows = self._fetch(sql, (last, self.READ_CHUNK))
            if not rows:
                return
            yield from map(convert, rows)
            last = rows[-1][0]

    def read_types(self, after_seq: int, through_seq: int, types: Collection[str], limit: int) -> list[StoredEvent]:
        if not types:
            return []
        p = self.PARAM
        wanted = sorted(types)
        sql = (f"SELECT {COLUMNS} FROM events WHERE seq > {p} AND seq <= {p} AND type IN "
               f"({', '.join([p] * len(wanted))}) ORDER BY seq LIMIT {p}")
        return list(map(row_to_event, self._fetch(sql, (after_seq, through_seq, *wanted, limit))))

    def read_for_replay(self, after_seq: int = 0) -> Iterator[Sequence[Any]]:
        """``(seq, ts, type, payload)`` of every event with ``seq > after_seq``, in order: what folding the log
        into a ledger needs, without the hashes, keys and results :meth:`read` also loads."""
        for rows in self._paged_replay(after_seq):
            yield from rows

    def read_for_replay_chunks(self, after_seq: int = 0) -> Iterator[Sequence[Sequence[Any]]]:
        """:meth:`read_for_replay` a chunk (a page of rows) at a time: what
        :func:`margincall.store.journal.fold_log` takes."""
        return self._paged_replay(after_seq)

    def _paged_replay(self, after_seq: int) -> Iterator[list[tuple[int, int, str, dict[str, Any]]]]:
        p = self.PARAM
        sql = f"SELECT seq, ts, type, payload FROM events WHERE seq > {p} ORDER BY seq LIMIT {p}"
        last = after_seq
        while True:
            rows = self._fetch(sql, (last, self.READ_CHUNK))
            if not rows:
                return
            yield list(map(replay_row, rows))
            last = rows[-1][0]

    def schema_version(self) -> int:
        return int(self._fetch("SELECT MAX(version) FROM schema_version", ())[0][0])

    def _load_tail(self) -> None:
        rows = self._fetch("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1", ())
        row = rows[0] if rows else None
        self._last_seq, self._last_hash = (0, GENESIS_HASH) if row is None else (int(row[0]), str(row[1]))

    def by_key(self, key: str) -> StoredEvent | None:
        rows = self._fetch(f"SELECT {COLUMNS} FROM events WHERE key = {self.PARAM}", (key,))
        return row_to_event(rows[0]) if rows else None

    def last_seq(self) -> int:
        return self._last_seq

    def last_hash(self) -> str:
        return self._last_hash

    # -- pages through the indexes --------------------------------------------------------------------------
    def page(self, after: int = 0, limit: int = 100, *, types: frozenset[str] | None = None, fund: bool = False,
             account: str | None = None, since: int | None = None, until: int | None = None,
             max_scan: int | None = None) -> EventPage:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        scan = SCAN_FACTOR * limit if max_scan is None else max_scan
        if scan < 1:
            raise ValueError("max_scan must be at least 1")
        p = self.PARAM
        rows = self._fetch("SELECT MAX(seq) FROM events", ())
        hi = int(rows[0][0] or 0)
        cost = _Cost()
        if after >= hi:  # past the end: nothing to read (and no ``after + 1`` that could leave int64)
            return EventPage([], after, False, cost.examined, cost.probes)
        lo = after if since is None else self._first_at(since, after, hi, cost) - 1
        if until is not None:
            hi = self._last_at(until, lo, hi, cost)
        if lo >= hi:
            return EventPage([], max(after, hi), False, cost.examined, cost.probes)
        by_type = types is not None or fund
        if account is None and not by_type:  # every event in the range: the table itself, in order
            found = self._fetch(f"SELECT {COLUMNS} FROM events WHERE seq > {p} AND seq <= {p} ORDER BY seq "
                                f"LIMIT {p}", (lo, hi, limit))
            cost.examined += len(found)
            return self._finish([row_to_event(r) for r in found], limit, hi, cost)
        if account is None:  # by type: each type's index (and the fund's) read up to ``limit``, merged
            streams = [self._fetch(f"SELECT seq FROM events WHERE type = {p} AND seq > {p} AND seq <= {p} "
                                   f"ORDER BY seq LIMIT {p}", (t, lo, hi, limit)) for t in sorted(types or ())]
            if fund:
                streams.append(self._fetch(f"SELECT seq FROM fund_events WHERE seq > {p} AND seq <= {p} "
                                           f"ORDER BY seq LIMIT {p}", (lo, hi, limit)))
            cost.examined += sum(map(len, streams))
            seqs: list[int] = []
            for (seq,) in heapq.merge(*streams):
                if not seqs or seqs[-1] != seq:  # an event of a listed type that also moved the fund: once
                    seqs.append(seq)
                    if len(seqs) == limit:
                        break
            return self._finish(self._rows(seqs, cost), limit, hi, cost)
        entries = (f"FROM event_accounts a WHERE a.account = {p} AND a.seq > {p} AND a.seq <= {p} ORDER BY a.seq "
                   f"LIMIT {p}")
        if not by_type:  # one account's events: its index entries, in order, then the events by key
            seqs = [int(r[0]) for r in self._fetch(f"SELECT a.seq {entries}", (account, lo, hi, limit))]
            cost.examined += len(seqs)
            return self._finish(self._rows(seqs, cost), limit, hi, cost)
        # One account's events of some types: its index entries, each with its event's type (and whether it moved
        # the fund) looked up by key, read in growing chunks until ``limit`` match or ``scan`` entries are read.
        # Scalar subqueries (lookups by key) rather than joins or EXISTS: PostgreSQL may plan those over the whole
        # joined table (a merge join along it, a hash of it).
        moved_sql = "(SELECT f.seq FROM fund_events f WHERE f.seq = a.seq)" if fund else "NULL"
        sql = f"SELECT a.seq, (SELECT e.type FROM events e WHERE e.seq = a.seq), {moved_sql} {entries}"
        wanted = types or frozenset()
        hits: list[int] = []
        cursor, read, chunk = lo, 0, 2 * limit
        while True:
            n = min(chunk, scan - read)
            window = self._fetch(sql, (account, cursor, hi, n))
            read += len(window)
            cost.examined += (3 if fund else 2) * len(window)
            for seq, type_, moved in window:
                if type_ in wanted or moved:
                    hits.append(seq)
                    if len(hits) == limit:
                        break
            if len(hits) == limit or len(window) < n:  # full, or the account's entries ran out
                return self._finish(self._rows(hits, cost), limit, hi, cost)
            cursor = int(window[-1][0])
            if read >= scan:  # the page's budget is spent: the next page continues after what was read
                return EventPage(self._rows(hits, cost), cursor, cursor < hi, cost.examined, cost.probes)
            chunk *= 2

    def _rows(self, seqs: Sequence[int], cost: _Cost) -> list[StoredEvent]:
        """The events numbered ``seqs`` (ascending), by primary key."""
        if not seqs:
            return []
        cond, params = self._in(seqs)
        found = self._fetch(f"SELECT {COLUMNS} FROM events WHERE seq {cond} ORDER BY seq", params)
        cost.examined += len(found)
        return [row_to_event(r) for r in found]

    @staticmethod
    def _finish(events: list[StoredEvent], limit: int, hi: int, cost: _Cost) -> EventPage:
        """A page that read its source in order: full (continue after its last event) or the range's end."""
        if len(events) < limit:
            return EventPage(events, hi, False, cost.examined, cost.probes)
        last = events[-1].seq
        return EventPage(events, last, last < hi, cost.examined, cost.probes)

    def _ts_from(self, seq: int, cost: _Cost) -> tuple[int, int] | None:
        """``(seq, ts)`` of the first event numbered ``seq`` or later."""
        p = self.PARAM
        cost.probes += 1
        rows = self._fetch(f"SELECT seq, ts FROM events WHERE seq >= {p} ORDER BY seq LIMIT 1", (seq,))
        return (int(rows[0][0]), int(rows[0][1])) if rows else None

    def _first_at(self, since: int, after: int, hi: int, cost: _Cost) -> int:
        """The first seq in ``(after, hi]`` whose ts is ≥ ``since`` (``hi + 1`` if none).

        Timestamps never decrease along the log, so this is one lookup when the cursor is already past
        ``since`` and a binary search otherwise, whose answer, once an event at or after ``since`` exists, holds
        for good (later events are later still): it is remembered, and the next pages of the same query make
        no lookup for it."""
        known = self._ts_bounds.get(since)
        if known is not None:
            return max(known, after + 1)
        lo_s, hi_s = after + 1, hi
        first = self._ts_from(lo_s, cost)
        if first is None or first[1] >= since:
            return lo_s
        lo_s = first[0] + 1  # every event up to the first one probed is before ``since``
        while lo_s <= hi_s:
            mid = (lo_s + hi_s) // 2
            at = self._ts_from(mid, cost)
            if at is None or at[0] > hi_s or at[1] >= since:
                hi_s = mid - 1
            else:
                lo_s = at[0] + 1
        if lo_s <= hi:
            if len(self._ts_bounds) >= _TS_BOUNDS_KEPT:
                self._ts_bounds.clear()
            self._ts_bounds[since] = lo_s
        return lo_s

    def _last_at(self, until: int, lo: int, hi: int, cost: _Cost) -> int:
        """The last seq in ``(lo, hi]`` whose ts is ≤ ``until`` (``lo`` if none): none of the log's events when
        the last one up to ``hi`` is in time (one lookup), else the event before the first one after ``until``
        (:meth:`_first_at`, remembered)."""
        known = self._ts_bounds.get(until + 1)
        if known is not None:
            return min(known - 1, hi)
        p = self.PARAM
        cost.probes += 1
        rows = self._fetch(f"SELECT ts FROM events WHERE seq <= {p} ORDER BY seq DESC LIMIT 1", (hi,))
        if not rows or int(rows[0][0]) <= until:
            return hi
        return self._first_at(until + 1, lo, hi, cost) - 1

    @property
    def _ts_bounds(self) -> dict[int, int]:
        """ts → the first seq whose ts is at or after it, for the bounds found so far (see :meth:`_first_at`)."""
        bounds: dict[int, int] | None = self.__dict__.get("_ts_bounds_found")
        if bounds is None:
            bounds = self.__dict__["_ts_bounds_found"] = {}
        return bounds


#: At most this many remembered time bounds (then forgotten all at once): one per distinct since / until asked.
_TS_BOUNDS_KEPT = 4096


class _Cost:
    """What a page read: index entries and event rows, and the point lookups of its time bounds."""

    __slots__ = ("examined", "probes")

    def __init__(self) -> None:
        self.examined = 0
        self.probes = 0
