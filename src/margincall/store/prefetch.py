"""Replay reads from SQLite on the second core: a reader thread has SQLite assemble each chunk of the log.

Folding a log into a ledger (recovery, ``margincall ledger replay``) reads ``(seq, ts, type, payload)`` of every
event. Fetched row by row, the sqlite3 module builds a tuple and two strings per event while holding the GIL: as
much time as the fold itself. Here a thread with its own read-only connection asks SQLite for a whole chunk as
one JSON array text — ``group_concat`` of ``[seq,ts,type,payload]``, computed inside one ``sqlite3_step`` during
which the sqlite3 module releases the GIL — so that work runs in parallel with the fold, and the folding thread
only parses each chunk with one ``orjson.loads`` call.

What is yielded is what :meth:`margincall.store.sql.SqlEventLog.read_for_replay` yields (as ``[seq, ts, type,
payload]`` lists, which unpack like its tuples):

* payloads are parsed as the json module parses them: a payload holding anything but strings, integers that
  fit 64 bits, booleans and nulls (where orjson and the json module could differ: floats, huge integers,
  nested values) is read again on its own and parsed by :func:`margincall.store.log._loads`. SQLite finds
  those in the same statement (``json_each``), so the folding thread does not look at every value;
* a chunk that orjson cannot parse whole (text the json module would take but orjson not, or a damaged row) is
  read again row by row the ordinary way;
* events come in sequence order: SQLite does not promise the order of ``group_concat``, so a chunk that is not
  in order is sorted.
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from margincall.store.log import _EXACT_TYPES, StoreError, _loads

try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson is a dependency; without it the ordinary read is used
    _orjson = None  # type: ignore[assignment]

#: A payload orjson might not parse as the json module does: not an object, or holding anything but text,
#: booleans, nulls and integers of 64 bits (floats, larger integers, nested values).
_INEXACT = (
    "json_type(payload) != 'object' OR EXISTS (SELECT 1 FROM json_each(payload) WHERE type NOT IN "
    "('text', 'true', 'false', 'null') AND NOT (type = 'integer' AND atom BETWEEN -9223372036854775807 AND "
    "9223372036854775807))"
)
_CHUNK = (
    "SELECT max(seq), count(*), "
    "'[' || group_concat('[' || seq || ',' || ts || ',' || json_quote(type) || ',' || payload || ']', ',') || ']'"
    ", {} FROM (SELECT seq, ts, type, payload FROM events WHERE seq > ? ORDER BY seq LIMIT ?)"
)
#: One chunk of the log as a JSON array of ``[seq, ts, type, payload]`` arrays (payloads spliced in as stored)
#: and the seqs of its inexact payloads: one statement, so one ``sqlite3_step`` without the GIL.
CHUNK_SQL = _CHUNK.format(f"group_concat(CASE WHEN {_INEXACT} THEN seq END)")
#: The same without the check, for a chunk holding text SQLite cannot parse as JSON (checked row by row).
CHUNK_SQL_UNCHECKED = _CHUNK.format("NULL")
ROWS_SQL = "SELECT seq, ts, type, payload FROM events WHERE seq > ? AND seq <= ? ORDER BY seq"
#: The first chunk is small, so that folding starts at once; each next one doubles, up to MAX_CHUNK. The reader
#: takes the GIL back a few times per chunk, each time waiting up to the folding thread's switch interval:
#: large chunks keep that wait small per event.
FIRST_CHUNK = 256
MAX_CHUNK = 8192
_DONE = object()

Row = Sequence[Any]  # [seq, ts, type, payload]
Fetch = Callable[[str, Sequence[Any]], list[Any]]


def supported(path: str) -> bool:
    """True when ``path`` is a database file a second connection can read and its SQLite has JSON functions."""
    if _orjson is None or not path or path == ":memory:" or path.startswith("file:"):
        return False
    try:
        with contextlib.closing(sqlite3.connect(":memory:")) as db:
            db.execute("SELECT json_quote('x'), json_type('{}'), (SELECT count(*) FROM json_each('{}'))").fetchone()
    except sqlite3.Error:
        return False
    return True


def prefetched_replay(path: str, after_seq: int, chunk: int, fetch: Fetch) -> Iterator[Row]:
    """``(seq, ts, type, payload)`` of every event after ``after_seq`` of the SQLite file at ``path``, read
    ahead by a thread; ``fetch(sql, params)`` (the log's own connection) re-reads what needs the ordinary path."""
    for rows in prefetched_chunks(path, after_seq, chunk, fetch):
        yield from rows


def prefetched_chunks(path: str, after_seq: int, chunk: int, fetch: Fetch) -> Iterator[list[Row]]:
    """:func:`prefetched_replay` a chunk (a list of rows, at most ``chunk``) at a time."""
    q: queue.Queue[Any] = queue.Queue(maxsize=3)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        except sqlite3.Error as exc:
            put(exc)
            return
        try:
            last = after_seq
            size = min(FIRST_CHUNK, chunk)
            while not stop.is_set():
                inexact: list[int] | None
                try:
                    top, count, text, listed = db.execute(CHUNK_SQL, (last, size)).fetchone()
                    inexact = [int(x) for x in listed.split(",")] if listed else []
                except sqlite3.OperationalError as exc:
                    if "JSON" not in str(exc):
                        raise
                    top, count, text, _ = db.execute(CHUNK_SQL_UNCHECKED, (last, size)).fetchone()
                    inexact = None
                if not count:
                    put(_DONE)
                    return
                if not put((last, top, text, inexact)):
                    return
                last = top
                size = min(2 * size, chunk)
        except Exception as exc:  # whatever stops the reader is raised in the folding thread, not lost
            put(exc)
        finally:
            db.close()

    reader = threading.Thread(target=read, name="margincall-replay-reader", daemon=True)
    reader.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, Exception):
                raise StoreError(f"sqlite {path}: replay read failed: {item}") from item
            first, top, text, inexact = item
            yield _parse_chunk(first, top, text, fetch, inexact)
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                q.get_nowait()
        reader.join()


def _parse_chunk(after: int, top: int, text: str, fetch: Fetch, inexact: Sequence[int] | None = None) -> list[Row]:
    """The rows of one chunk: ``[seq, ts, type, payload]`` lists as orjson parsed them, in sequence order.

    ``inexact``: the seqs whose payload orjson may parse differently (each is re-read through ``_loads``); None
    when not known, and then every payload is checked here."""
    try:
        rows: list[Any] = _orjson.loads(text)
    except ValueError:
        return [_plain(r) for r in fetch(ROWS_SQL, (after, top))]
    last = after
    for row in rows:
        if row[0] <= last:
            rows.sort(key=lambda r: r[0])
            break
        last = row[0]
    if inexact is None:
        exact = _EXACT_TYPES.issuperset
        inexact = [r[0] for r in rows if type(r[3]) is not dict or not exact(map(type, r[3].values()))]
    if inexact:
        by_seq = {r[0]: r for r in rows}
        for seq in inexact:
            by_seq[seq][3] = _loads(fetch("SELECT payload FROM events WHERE seq = ?", (seq,))[0][0])
    return rows


def _plain(row: Sequence[Any]) -> Row:
    return row[0], row[1], row[2], _loads(row[3])
