"""Replay reads from SQLite on the second core: a reader thread has SQLite assemble each chunk of the log.

Folding a log into a ledger (recovery, ``margincall ledger replay``) reads ``(seq, ts, type, payload)`` of every
event. Fetched row by row, the sqlite3 module builds a tuple and two strings per event while holding the GIL: as
much time as the fold itself. Here a thread with its own read-only connection asks SQLite for a whole chunk as
one JSON array text — ``group_concat`` of ``[seq,ts,type,payload]``, computed inside one ``sqlite3_step`` during
which the sqlite3 module releases the GIL — so that work runs in parallel with the fold, and the folding thread
only parses each chunk with one ``orjson.loads`` call.

What is yielded is exactly what :meth:`margincall.store.sql.SqlEventLog.read_for_replay` yields:

* payloads are parsed as the json module parses them: a payload holding anything but strings, integers that
  fit 64 bits, booleans and nulls (where orjson and the json module could differ: floats, huge integers,
  nested values) is read again on its own and parsed by :func:`margincall.store.log._loads`;
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

#: One chunk of the log as a JSON array of ``[seq, ts, type, payload]`` arrays (payload spliced in as stored).
CHUNK_SQL = (
    "SELECT max(seq), count(*), "
    "'[' || group_concat('[' || seq || ',' || ts || ',' || json_quote(type) || ',' || payload || ']', ',') || ']' "
    "FROM (SELECT seq, ts, type, payload FROM events WHERE seq > ? ORDER BY seq LIMIT ?)"
)
ROWS_SQL = "SELECT seq, ts, type, payload FROM events WHERE seq > ? AND seq <= ? ORDER BY seq"
_DONE = object()

Row = tuple[int, int, str, dict[str, Any]]


def supported(path: str) -> bool:
    """True when ``path`` is a database file a second connection can read and its SQLite has ``json_quote``."""
    if _orjson is None or not path or path == ":memory:" or path.startswith("file:"):
        return False
    try:
        with contextlib.closing(sqlite3.connect(":memory:")) as db:
            db.execute("SELECT json_quote('x')").fetchone()
    except sqlite3.Error:
        return False
    return True


def prefetched_replay(path: str, after_seq: int, chunk: int,
                      fetch: Callable[[str, Sequence[Any]], list[Any]]) -> Iterator[Row]:
    """``(seq, ts, type, payload)`` of every event after ``after_seq`` of the SQLite file at ``path``, read
    ahead by a thread; ``fetch(sql, params)`` (the log's own connection) re-reads what needs the ordinary path."""
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
            while not stop.is_set():
                top, count, text = db.execute(CHUNK_SQL, (last, chunk)).fetchone()
                if not count:
                    put(_DONE)
                    return
                if not put((last, top, text)):
                    return
                last = top
        except sqlite3.Error as exc:
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
            if isinstance(item, sqlite3.Error):
                raise StoreError(f"sqlite {path}: replay read failed: {item}")
            first, top, text = item
            yield from _parse_chunk(first, top, text, fetch)
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                q.get_nowait()
        reader.join()


def _parse_chunk(after: int, top: int, text: str, fetch: Callable[[str, Sequence[Any]], list[Any]]) -> list[Row]:
    try:
        rows = _orjson.loads(text)
    except ValueError:
        return [_plain(r) for r in fetch(ROWS_SQL, (after, top))]
    out: list[Row] = []
    add = out.append
    last = after
    ordered = True
    for seq, ts, type_, payload in rows:
        if seq <= last:
            ordered = False
        last = seq
        if type(payload) is not dict or not all(map(_EXACT_TYPES.__contains__, map(type, payload.values()))):
            payload = _loads(fetch("SELECT payload FROM events WHERE seq = ?", (seq,))[0][0])
        add((seq, ts, type_, payload))
    if not ordered:
        out.sort(key=lambda r: r[0])
    return out


def _plain(row: Sequence[Any]) -> Row:
    return row[0], row[1], row[2], _loads(row[3])
