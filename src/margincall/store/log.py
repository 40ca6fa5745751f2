"""The event log: an append-only, hash-chained record of every ledger event (issue #3, item 3).

Each stored event carries a global sequence number (1, 2, 3, ... without gaps), an optional client
idempotency key (unique), a timestamp in milliseconds, the event type, its payload, the ledger's result, and
a SHA-256 hash chained to the previous event's hash. The chain makes any edit, insertion or deletion inside
the log detectable (:func:`margincall.store.journal.verify`); it cannot detect a truncated tail on its own.

Hash rule (defined once, here)::

    hash = sha256(canonical_json([prev_hash, seq, key, ts, type, payload])).hexdigest()

with ``canonical_json`` = JSON with sorted keys, no spaces, UTF-8, no NaN/Infinity. The first event's
``prev_hash`` is :data:`GENESIS_HASH`. The result is not hashed: it is derived (re-computed by ``verify``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from json.encoder import encode_basestring
from typing import Any, NamedTuple, Protocol, runtime_checkable

from margincall.ledger import accounts_of
from margincall.ledger.types import moves_insurance_fund
from margincall.model.errors import MarginCallError

try:  # optional: a faster JSON codec, used only where its output is provably the same as the json module's
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson is an optional speed-up
    _orjson = None  # type: ignore[assignment]

#: ``prev_hash`` of the first event of every log.
GENESIS_HASH = "0" * 64

_encoder = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _not_json(value: object) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON")


# The C encoder behind _encoder, called directly: the same text without JSONEncoder.encode's Python-level
# overhead (~1 µs per call, paid twice per event). Arguments: markers, default, string encoder, indent,
# key separator, item separator, sort_keys, skipkeys, allow_nan.
_c_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
_one_shot = (
    None if _c_encoder is None else _c_encoder(None, _not_json, encode_basestring, None, ":", ",", True, False, False)
)


def canonical_json(value: Any) -> str:
    """The one canonical JSON text of ``value``: sorted keys, no spaces, UTF-8 (no ``\\u`` escapes for
    non-ASCII), no NaN/Infinity — i.e. ``json.dumps(value, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False, allow_nan=False)``.

    Raises :class:`InvalidPayload` (code ``invalid_payload``) for values JSON cannot carry exactly.
    """
    if _orjson is not None and type(value) is dict and _flat_text(value):
        # A flat object of plain strings (most payloads): orjson writes exactly the json module's text here
        # (sorted keys, same escapes, raw UTF-8), checked for every code point in tests/test_ledger_speedups.py.
        try:
            return _orjson.dumps(value, option=_orjson.OPT_SORT_KEYS).decode()
        except TypeError:  # lone surrogates: let the json module decide, as before
            pass
    try:
        text = "".join(_one_shot(value, 0)) if _one_shot is not None else _encoder.encode(value)
        text.encode()  # a lone surrogate (from "\ud800" in JSON) has no UTF-8 form: it cannot be stored or hashed
        return text
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidPayload(f"payload: not representable as JSON ({exc})", field="payload") from None


_ONLY_STR = frozenset({str})


def _flat_text(value: dict[Any, Any]) -> bool:
    """True when every key and value of ``value`` is a plain ``str`` (no subclass, no nesting)."""
    return _ONLY_STR.issuperset(map(type, value.values())) and _ONLY_STR.issuperset(map(type, value))


def result_json(result: Any) -> str:
    """JSON text of a ledger result, to store. Not hashed (``verify`` re-derives and compares results through
    :func:`canonical_json`), so any exact JSON will do: orjson when it can (sorted keys, compact), else
    :func:`canonical_json`. Anything orjson would treat differently from the json module (str/int/dict/list
    subclasses, dataclasses, dates, ints beyond 64 bits, non-string keys) goes to :func:`canonical_json`.
    Floats are the exception: orjson writes NaN and infinities as ``null`` where the json module refuses them;
    results hold none (the state machines write amounts as decimal strings), and ``verify`` would catch one."""
    if _orjson is not None:
        try:
            return _orjson.dumps(result, option=_RESULT_OPTIONS, default=_not_json).decode()
        except TypeError:
            pass
    return canonical_json(result)


_RESULT_OPTIONS = (
    0
    if _orjson is None
    else _orjson.OPT_SORT_KEYS
    | _orjson.OPT_PASSTHROUGH_SUBCLASS
    | _orjson.OPT_PASSTHROUGH_DATACLASS
    | _orjson.OPT_PASSTHROUGH_DATETIME
)


def event_hash(prev_hash: str, seq: int, key: str | None, ts: int, type_: str, payload_json: str) -> str:
    """SHA-256 of ``canonical_json([prev_hash, seq, key, ts, type, payload])`` (see the module docstring).

    ``payload_json`` must be ``canonical_json(payload)``; splicing it into the header array gives exactly the
    canonical JSON of the six-element list without serialising the payload twice.
    """
    if type(seq) is not int or type(ts) is not int:
        raise InvalidPayload("seq and ts must be integers", field="ts")
    # Same text as _encoder.encode([...]) (seq and ts are ints), built directly because it is hot.
    key_json = "null" if key is None else encode_basestring(key)
    text = f'[{encode_basestring(prev_hash)},{seq},{key_json},{ts},{encode_basestring(type_)},{payload_json}]'
    return hashlib.sha256(text.encode()).hexdigest()


class StoreError(RuntimeError):
    """The log could not be read or written (database down, disk full, a concurrent writer, ...)."""

    code = "store_unavailable"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class InvalidPayload(MarginCallError):
    """A payload that is not a JSON object of JSON-able values (NaN, floats' infinity, bytes, ...)."""

    code = "invalid_payload"


class NewEvent(NamedTuple):
    """An event to append: type, payload (JSON object, numbers as decimal strings), idempotency key, ts in ms.

    Named tuples (immutable) rather than dataclasses, here and for :class:`StoredEvent`: one of each is made per
    event on the append path, and a tuple is built in C."""

    type: str
    payload: dict[str, Any]
    key: str | None
    ts: int
    #: ``canonical_json(payload)`` when the caller already has it (saves serialising twice); else computed.
    payload_json: str | None = None


class StoredEvent(NamedTuple):
    """An event as stored in the log, with its sequence number, result and chain hashes."""

    seq: int
    key: str | None
    ts: int
    type: str
    payload: dict[str, Any]
    result: dict[str, Any] | None
    prev_hash: str
    hash: str


class EventPage(NamedTuple):
    """One page of :meth:`EventLog.page`: the matching events in sequence order and where to continue.

    ``next_after`` is the next page's cursor (pass it as ``after``); it advances even when the page holds fewer
    events than asked for, or none, because a page reads a bounded number of index rows. ``more`` is False when
    the page reached the end of its range (the log's last event as of the read, or the last one at or before
    ``until``): only events appended later can follow. ``examined`` counts the index entries and event rows the
    page read and ``probes`` the point lookups that turned ``since`` / ``until`` into sequence bounds (none once
    the cursor is inside them): what the page cost, independent of the log's size."""

    events: list[StoredEvent]
    next_after: int
    more: bool
    examined: int
    probes: int


class IndexRows(NamedTuple):
    """The index entries of a batch (:func:`index_rows`), as columns: entry ``i`` of the account index is
    ``(accounts[i], seqs[i])``; ``fund`` holds the seqs of the events that moved the insurance fund."""

    accounts: list[str]
    seqs: list[int]
    fund: list[int]


def index_rows(events: Sequence[StoredEvent]) -> IndexRows:
    """The index entries of ``events``, written in the transaction that stores them: ``(account, seq)`` for
    every account an event concerns (:func:`margincall.ledger.accounts_of`) and ``seq`` for every event whose
    result moved the insurance fund (:func:`margincall.ledger.types.moves_insurance_fund`). Columns, not
    per-entry tuples: the backends bind them as they are (arrays, or the parameters of one statement)."""
    accounts: list[str] = []
    seqs: list[int] = []
    fund: list[int] = []
    add_account, add_seq, add_fund = accounts.append, seqs.append, fund.append
    for ev in events:
        seq = ev[0]
        for a in accounts_of(ev[4]):
            add_account(a)
            add_seq(seq)
        if moves_insurance_fund(ev[5]):
            add_fund(seq)
    return IndexRows(accounts, seqs, fund)


@runtime_checkable
class EventLog(Protocol):
    """An append-only, hash-chained event log with snapshots. One writer per log at a time.

    Implementations: :class:`margincall.store.sqlite.SqliteEventLog` (the default) and
    :class:`margincall.store.postgres.PostgresEventLog`. Open one with :func:`margincall.store.open_log`.
    """

    def append(self, batch: Sequence[tuple[NewEvent, Mapping[str, Any] | None]]) -> list[StoredEvent]:
        """Append ``(event, result)`` pairs in one transaction, numbering and chaining them.

        Durable when it returns. On failure nothing of the batch is stored and :class:`StoreError` is raised.
        """
        ...

    def read(self, after_seq: int = 0, *, results: bool = True) -> Iterator[StoredEvent]:
        """Every event with ``seq > after_seq``, in sequence order (``result`` left None unless ``results``)."""
        ...

    def read_types(self, after_seq: int, through_seq: int, types: Collection[str], limit: int) -> list[StoredEvent]:
        """Up to ``limit`` events of ``types`` with ``after_seq < seq <= through_seq``, in sequence order (one
        query: the database skips the other types without them being parsed)."""
        ...

    def page(self, after: int = 0, limit: int = 100, *, types: frozenset[str] | None = None, fund: bool = False,
             account: str | None = None, since: int | None = None, until: int | None = None,
             max_scan: int | None = None) -> EventPage:
        """Up to ``limit`` events with ``seq > after`` matching every filter given, in sequence order, read
        through the indexes: the cost of a page does not depend on the log's size.

        Filters: ``types`` (event types) and ``fund`` (events whose result moved the insurance fund) match an
        event of one of the types *or* one that moved the fund; ``account``: the events that concern it
        (:func:`margincall.ledger.accounts_of`); ``since`` / ``until``: ``since ≤ ts ≤ until`` (ms; the
        ledger refuses an event earlier than the last one, so the timestamps of a log never decrease along it
        and bound a range of sequence numbers). With ``account`` and ``types``/``fund`` together, the page reads
        at most ``max_scan`` (default ``20 × limit``) of the account's index entries, so it may hold fewer than
        ``limit`` events while :attr:`EventPage.next_after` advances (see :class:`EventPage`).
        """
        ...

    def by_key(self, key: str) -> StoredEvent | None:
        """The event stored under idempotency ``key``, if any."""
        ...

    def by_keys(self, keys: Sequence[str]) -> dict[str, StoredEvent]:
        """The events stored under any of ``keys`` (one query; absent keys are missing from the dict)."""
        ...

    def last_seq(self) -> int:
        """Sequence number of the last event (0 for an empty log)."""
        ...

    def last_hash(self) -> str:
        """Hash of the last event (:data:`GENESIS_HASH` for an empty log)."""
        ...

    def save_snapshot(self, seq: int, state: Mapping[str, Any]) -> None:
        """Store the ledger state as of event ``seq`` (replaces a snapshot at the same seq)."""
        ...

    def latest_snapshot(self) -> tuple[int, dict[str, Any]] | None:
        """The snapshot with the highest seq, or None."""
        ...

    def schema_version(self) -> int:
        """The highest applied schema migration."""
        ...

    def close(self) -> None:
        """Release the connection. The log must not be used afterwards."""
        ...



#: ``tuple.__new__``: a named tuple built with every field given, without its Python-level ``__new__``.
_tuple_new: Any = tuple.__new__


def chain(
    batch: Sequence[tuple[NewEvent, Mapping[str, Any] | None]], last_seq: int, last_hash: str
) -> tuple[list[StoredEvent], list[tuple[int, str | None, int, str, str, str | None, str, str]]]:
    """Number and hash ``batch`` after ``(last_seq, last_hash)``.

    Returns the stored events and the matching database rows
    ``(seq, key, ts, type, payload_json, result_json, prev_hash, hash)``; shared by every backend.
    """
    events: list[StoredEvent] = []
    rows: list[tuple[int, str | None, int, str, str, str | None, str, str]] = []
    seq, prev = last_seq, last_hash
    add_event, add_row, new = events.append, rows.append, _tuple_new
    for ev, result in batch:
        seq += 1
        payload_json = ev.payload_json if ev.payload_json is not None else canonical_json(ev.payload)
        key, ts, type_ = ev.key, ev.ts, ev.type
        h = event_hash(prev, seq, key, ts, type_, payload_json)
        if result is None:
            add_row((seq, key, ts, type_, payload_json, None, prev, h))
        else:
            add_row((seq, key, ts, type_, payload_json, result_json(result), prev, h))
            if type(result) is not dict:
                result = dict(result)
        add_event(new(StoredEvent, (seq, key, ts, type_, ev.payload, result, prev, h)))
        prev = h
    return events, rows


#: Value types orjson parses exactly as the json module does (an integer beyond 64 bits it would turn into a
#: float, and floats may carry such a case, so floats are not in this set).
_EXACT_TYPES = frozenset({str, int, bool, type(None)})


def _loads(text: str) -> Any:
    """``json.loads(text)``; through orjson (3-4x faster) when the value is a flat object of strings, ints,
    booleans and nulls — which orjson parses exactly like the json module — else through the json module."""
    if _orjson is not None:
        try:
            value = _orjson.loads(text)
        except ValueError:  # not strict JSON for orjson (e.g. a lone surrogate escape): the json module decides
            return json.loads(text)
        if type(value) is dict:
            for v in value.values():
                if type(v) not in _EXACT_TYPES:
                    break
            else:
                return value
    return json.loads(text)


def row_to_event(row: Sequence[Any]) -> StoredEvent:
    """A database row ``(seq, key, ts, type, payload_json, result_json, prev_hash, hash)`` as a StoredEvent."""
    seq, key, ts, type_, payload, result, prev_hash, h = row
    # Results are nested (postings), which _loads would hand to the json module after all: parse them there.
    return StoredEvent(
        seq, key, ts, type_, _loads(payload), None if result is None else json.loads(result), prev_hash, h
    )


def replay_row(row: Sequence[Any]) -> tuple[int, int, str, dict[str, Any]]:
    """A database row ``(seq, ts, type, payload_json)`` as ``(seq, ts, type, payload)``."""
    return row[0], row[1], row[2], _loads(row[3])


def row_to_event_without_result(row: Sequence[Any]) -> StoredEvent:
    """As :func:`row_to_event` but ``result`` left None (replay recomputes it; parsing it would cost)."""
    return StoredEvent(row[0], row[1], row[2], row[3], _loads(row[4]), None, row[6], row[7])
