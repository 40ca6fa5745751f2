"""What the SQL backends share: the events table's columns and the paged reads over it.

A backend sets :attr:`SqlEventLog.PARAM` (its driver's placeholder) and :attr:`READ_CHUNK`, keeps
``_last_seq`` / ``_last_hash`` up to date, and implements ``_fetch(sql, params) -> list[tuple]``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import Any

from margincall.store.log import GENESIS_HASH, StoredEvent, replay_row, row_to_event, row_to_event_without_result

COLUMNS = "seq, key, ts, type, payload, result, prev_hash, hash"
COLUMNS_WITHOUT_RESULT = "seq, key, ts, type, payload, NULL, prev_hash, hash"  # replay does not read results


class SqlEventLog:
    PARAM = "?"
    READ_CHUNK = 4096
    _last_seq: int
    _last_hash: str

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
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
