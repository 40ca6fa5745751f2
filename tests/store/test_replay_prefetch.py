"""The SQLite replay reader thread (margincall.store.prefetch) yields exactly what the ordinary paged read yields.

The ordinary read (``SqlEventLog.read_for_replay``: row by row, each payload through ``_loads``) is the reference;
the prefetching reader must give the same ``(seq, ts, type, payload)`` tuples — same values, same Python types —
for any log, including payloads where orjson and the json module differ (huge integers, floats, nesting), text
orjson refuses, chunks SQLite hands back out of order, and logs longer than a chunk. Stopping early must stop the
reader thread.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from margincall.ledger import Ledger
from margincall.store import NewEvent, open_log, prefetch
from margincall.store.journal import Command, Journal, fold_log
from margincall.store.log import StoreError
from margincall.store.sql import SqlEventLog
from margincall.store.sqlite import SqliteEventLog
from support.ledger_streams import random_stream


def _typed(rows: list[Any]) -> list[Any]:
    """Rows with the type of every payload value next to it, so 1 and 1.0 (equal in Python) differ."""
    return [(s, t, ty, {k: (type(v).__name__, v) for k, v in p.items()} if isinstance(p, dict) else p)
            for s, t, ty, p in rows]


def _both(log: SqliteEventLog, after: int = 0) -> tuple[list[Any], list[Any]]:
    return list(SqlEventLog.read_for_replay(log, after)), [tuple(r) for r in log.read_for_replay(after)]


def test_prefetch_is_used_for_a_file_log(tmp_path: Path) -> None:
    log = open_log(str(tmp_path / "e.db"))
    assert isinstance(log, SqliteEventLog)
    assert prefetch.supported(log.path)
    assert not prefetch.supported(":memory:")
    log.append([(NewEvent("deposit", {"a": "1"}, None, 1), None)])
    assert [tuple(r) for r in log.read_for_replay()] == [(1, 1, "deposit", {"a": "1"})]
    assert log._prefetch is True
    log.close()


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_prefetched_rows_equal_the_ordinary_read(tmp_path: Path, chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prefetch, "FIRST_CHUNK", max(1, chunk // 3))  # chunks growing from a third of the size
    monkeypatch.setattr(prefetch, "MAX_CHUNK", chunk)
    log = open_log(str(tmp_path / "e.db"))
    assert isinstance(log, SqliteEventLog)
    log.READ_CHUNK = chunk  # type: ignore[misc]
    j = Journal(log, Ledger)
    j.submit_many([Command(t, p, key=f"k{i}", ts=i) for i, (t, p) in enumerate(random_stream(11, 900))])
    assert fold_log(log, Ledger()).digest() == j.ledger.digest()  # the fold recovery runs reaches the live state
    odd = [  # payloads orjson would parse differently from the json module, or not at all, or not as a dict
        {"big": 123456789012345678901234567890, "neg": -98765432109876543210987654321},
        {"f": 0.1, "g": 1e300, "h": -0.0},
        {"nested": {"x": [1, 2.5, {"y": None}]}, "t": True},
        {"text": "é \u2028 \\ \" \u0000 \U0001f600"},
    ]
    log.append([(NewEvent("note", p, None, 10_000 + i), None) for i, p in enumerate(odd)])
    plain, fast = _both(log)
    assert len(plain) > 250
    assert _typed(fast) == _typed(plain)
    for after in (0, 5, len(plain) - 3, len(plain), len(plain) + 10):
        plain, fast = _both(log, after)
        assert _typed(fast) == _typed(plain)
    log.close()


def test_a_chunk_out_of_order_is_sorted_and_an_unparseable_one_read_row_by_row(tmp_path: Path) -> None:
    log = open_log(str(tmp_path / "e.db"))
    assert isinstance(log, SqliteEventLog)
    log.append([(NewEvent("deposit", {"n": str(i)}, None, i), None) for i in range(1, 6)])
    expected = list(SqlEventLog.read_for_replay(log))
    shuffled = "[" + ",".join(json.dumps([s, t, ty, p]) for s, t, ty, p in reversed(expected)) + "]"
    assert [tuple(r) for r in prefetch._parse_chunk(0, 5, shuffled, log._fetch)] == expected
    # text orjson refuses (a trailing comma): the rows of the chunk are read again the ordinary way
    assert [tuple(r) for r in prefetch._parse_chunk(0, 5, shuffled[:-1] + ",]", log._fetch)] == expected
    log.close()


def test_stopping_early_stops_the_reader_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # chunks of 3 rows and a queue of 3 chunks: the reader is still at work (waiting to put) when we stop
    monkeypatch.setattr(prefetch, "FIRST_CHUNK", 3)
    monkeypatch.setattr(prefetch, "MAX_CHUNK", 3)
    log = open_log(str(tmp_path / "e.db"))
    assert isinstance(log, SqliteEventLog)
    log.append([(NewEvent("deposit", {"n": str(i)}, None, i), None) for i in range(1, 101)])
    before = {t.name for t in threading.enumerate()}
    it = log.read_for_replay()
    assert next(it)[0] == 1
    assert any(t.name == "margincall-replay-reader" for t in threading.enumerate())
    it.close()  # type: ignore[attr-defined]
    assert {t.name for t in threading.enumerate()} <= before
    log.close()


def _one_event_log(path: Path) -> SqliteEventLog:
    log = open_log(str(path))
    assert isinstance(log, SqliteEventLog)
    log.append([(NewEvent("deposit", {"n": "1"}, None, 1), None)])
    return log


def test_a_reader_that_cannot_open_the_file_raises_a_store_error(tmp_path: Path) -> None:
    log = _one_event_log(tmp_path / "e.db")
    rows = prefetch.prefetched_replay(str(tmp_path / "missing.db"), 0, 10, log._fetch)
    with pytest.raises(StoreError, match="replay read failed") as info:
        list(rows)
    assert info.value.code == "store_unavailable"
    log.close()


def test_a_damaged_table_raises_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    log = _one_event_log(path)
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE events RENAME COLUMN payload TO gone")
    with pytest.raises(StoreError, match="replay read failed"):
        list(prefetch.prefetched_replay(str(path), 0, 10, log._fetch))
    log.close()


def test_a_lone_surrogate_is_refused_as_an_invalid_payload(tmp_path: Path) -> None:
    log = open_log(str(tmp_path / "e.db"))
    j = Journal(log, Ledger)
    [outcome] = j.submit_many([Command("account_opened", {"account": "a\ud800"}, ts=1)])
    assert getattr(outcome, "code", None) == "invalid_payload"
    assert log.last_seq() == 0
    log.close()


def test_an_unexpected_failure_of_the_reader_reaches_the_folding_thread(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # anything that stops the reader (not only a sqlite3 error) is raised where the rows are consumed, instead
    # of leaving the fold waiting for a chunk that never comes
    log = _one_event_log(tmp_path / "e.db")
    monkeypatch.setattr(prefetch, "CHUNK_SQL", 7)  # not a statement: sqlite3 raises TypeError in the reader
    with pytest.raises(StoreError, match="replay read failed"):
        list(log.read_for_replay())
    log.close()
