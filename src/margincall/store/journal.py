"""The journal: the ledger in memory kept equal to the fold of the durable event log (issue #3, item 3).

Rules:

* **Recovery** — state = latest snapshot (``Ledger.from_snapshot``) + replay of the log after it; a snapshot
  that is ahead of the log is ignored and the whole log is replayed.
* **Apply, then write, then acknowledge** — an event is applied to the ledger (a rejection propagates and
  nothing is written), appended durably, and only then acknowledged. If the write fails, the ledger is rebuilt
  from the log, so the in-memory state never holds an event the log does not.
* **Idempotency** — a repeated key with the same type and canonical payload returns the original
  :class:`Ack` (``duplicate=True``) and changes nothing; the same key with anything else is an
  :class:`IdempotencyConflict` (code ``idempotency_conflict``).
* **Group commit** — :meth:`Journal.submit_many` writes a batch in one transaction (one fsync);
  :class:`GroupCommitter` gathers concurrent callers' submits into such batches on a writer thread.
* **Snapshots** every ``snapshot_every`` events, written after the batch that crosses the boundary.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, cast

from margincall.model.errors import MarginCallError
from margincall.model.gcpause import paused_gc
from margincall.store.log import (
    GENESIS_HASH,
    EventLog,
    NewEvent,
    StoredEvent,
    StoreError,
    canonical_json,
    event_hash,
)

_log = logging.getLogger(__name__)


class LedgerLike(Protocol):
    """What the journal needs of :class:`margincall.ledger.Ledger` (see notes/ledger_api.md)."""

    def apply(self, event_type: str, payload: dict[str, Any], ts: int) -> Any: ...
    def snapshot(self) -> dict[str, Any]: ...
    def digest(self) -> str: ...
    def conservation_error(self) -> str | None: ...
    @property
    def last_ts(self) -> int: ...


class LedgerFactory(Protocol):
    """A ledger class: called with no arguments for an empty ledger, ``from_snapshot`` to restore one."""

    def __call__(self) -> LedgerLike: ...
    def from_snapshot(self, state: dict[str, Any], /) -> LedgerLike: ...


def default_ledger_factory() -> LedgerFactory:
    from margincall.ledger import Ledger

    factory: LedgerFactory = Ledger
    return factory


class IdempotencyConflict(MarginCallError):
    """The idempotency key was already used for a different event type or payload."""

    code = "idempotency_conflict"


class RecoveryError(StoreError):
    """The log cannot be folded into a ledger (an event is rejected on replay): the log or the code changed."""

    code = "recovery_failed"


class Ack(NamedTuple):
    """An acknowledged (durable) event: its sequence number and the ledger's result (a named tuple: one is made
    per accepted command).

    ``duplicate`` is True when the idempotency key had been used before with the same event; ``seq`` and
    ``result`` are then the original ones. A state machine with a ``process`` method (the risk engine) may apply
    more events because of a command; they are appended after it, in the same transaction, as ``caused``.
    """

    seq: int
    result: dict[str, Any] | None
    duplicate: bool = False
    #: Events the state machine applied because of this one (the risk engine's margin calls and liquidation
    #: steps), durable in the same transaction.
    caused: tuple[StoredEvent, ...] = ()


@dataclass(frozen=True, slots=True)
class Command:
    """An event to submit; ``ts`` defaults to now (never earlier than the ledger's last timestamp)."""

    type: str
    payload: dict[str, Any]
    key: str | None = None
    ts: int | None = None


Outcome = Ack | MarginCallError


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _check_command(c: Command) -> None:
    key, ts = c.key, c.ts
    if (type(c.type) is str and c.type and type(c.payload) is dict
            and (key is None or (type(key) is str and 0 < len(key) <= 200))
            and (ts is None or (type(ts) is int and 0 <= ts < 2**63))):
        return  # plainly well-formed (the common case, checked first because it is hot)
    if not isinstance(c.type, str) or not c.type:
        raise MarginCallError(f"type: expected a non-empty string, got {c.type!r}", code="invalid_event", field="type")
    if not isinstance(c.payload, dict):
        raise MarginCallError(
            f"payload: expected a JSON object, got {type(c.payload).__name__}", code="invalid_payload", field="payload"
        )
    if c.key is not None and (not isinstance(c.key, str) or not c.key or len(c.key) > 200):
        raise MarginCallError(
            f"key: expected a string of 1 to 200 characters, got {c.key!r}", code="invalid_key", field="key"
        )
    if c.ts is not None and (isinstance(c.ts, bool) or not isinstance(c.ts, int) or not 0 <= c.ts < 2**63):
        raise MarginCallError(
            f"ts: expected integer milliseconds since the epoch, got {c.ts!r}", code="invalid_timestamp", field="ts"
        )


class Journal:
    """The ledger plus its durable log. Thread-safe (one lock); one Journal per log."""

    def __init__(
        self,
        log: EventLog,
        ledger_factory: LedgerFactory | None = None,
        *,
        snapshot_every: int = 10_000,
        clock: Callable[[], int] = _now_ms,
    ) -> None:
        if snapshot_every < 0:
            raise ValueError("snapshot_every must be >= 0 (0 disables snapshots)")
        self.log = log
        self._factory = ledger_factory if ledger_factory is not None else default_ledger_factory()
        self.snapshot_every = snapshot_every
        self._clock = clock
        self._lock = threading.RLock()
        self._ledger: LedgerLike | None = None
        self._ledger = self._recover()

    # -- state --------------------------------------------------------------------------------------------
    @property
    def ledger(self) -> LedgerLike:
        """The current ledger (= fold of the durable log). Do not mutate it directly."""
        with self._lock:
            if self._ledger is None:
                self._ledger = self._recover()
            return self._ledger

    @property
    def last_seq(self) -> int:
        return self.log.last_seq()

    def _recover(self) -> LedgerLike:
        snap = self.log.latest_snapshot()
        if snap is not None and snap[0] <= self.log.last_seq():
            ledger, after = self._factory.from_snapshot(snap[1]), snap[0]
        else:
            ledger, after = self._factory(), 0
        return fold_log(self.log, ledger, after)

    def _rebuild_after_failure(self) -> None:
        try:
            self._ledger = self._recover()
        except Exception:
            # The store is unreachable: forget the state; the next call recovers again before doing anything.
            self._ledger = None
            _log.exception("journal: rebuilding the ledger from the log failed; will retry on next use")

    # -- submitting ---------------------------------------------------------------------------------------
    def submit(self, type: str, payload: dict[str, Any], key: str | None = None, ts: int | None = None) -> Ack:
        """Apply and durably append one event; raises the rejection or conflict when it is not accepted."""
        outcome = self.submit_many([Command(type, payload, key, ts)])[0]
        if isinstance(outcome, MarginCallError):
            raise outcome
        return outcome

    def submit_many(self, commands: Sequence[Command]) -> list[Outcome]:
        """Apply ``commands`` in order and append the accepted ones in one transaction.

        Returns one outcome per command: an :class:`Ack`, or the error (``Rejected``, ``IdempotencyConflict``,
        bad input) that kept it out of the log; a refused command does not affect the others. If the write
        itself fails the :class:`StoreError` is raised for the whole batch and the ledger is rebuilt from the
        log (an event whose commit outcome is unknown may be durable: resubmit it with its key to find out).
        """
        with self._lock, paused_gc():
            ledger = self.ledger
            log = self.log
            outcomes: list[Outcome | None] = [None] * len(commands)
            keys = [c.key for c in commands if isinstance(c.key, str)]
            existing = log.by_keys(keys) if keys else {}
            pending: list[tuple[NewEvent, dict[str, Any]]] = []
            pending_index: list[int] = []
            pending_caused: list[int] = []  # events the engine caused after each accepted command
            pending_keys: dict[str, tuple[str, str, int]] = {}  # key -> (type, payload json, index in pending)
            duplicates_of_pending: list[tuple[int, int]] = []  # (command index, index in pending)
            now = None
            process = getattr(ledger, "process", None)
            apply = ledger.apply
            new_event: Any = tuple.__new__  # NewEvent(...) with every field given, without its Python __new__
            try:
                for i, c in enumerate(commands):
                    try:
                        _check_command(c)
                        payload_json = canonical_json(c.payload)
                        if c.key is not None:
                            old = existing.get(c.key)
                            if old is not None:
                                if old.type == c.type and canonical_json(old.payload) == payload_json:
                                    outcomes[i] = Ack(old.seq, old.result, True)
                                    continue
                                raise self._conflict(c.key, old.seq)
                            earlier = pending_keys.get(c.key)
                            if earlier is not None:
                                if earlier[0] == c.type and earlier[1] == payload_json:
                                    duplicates_of_pending.append((i, earlier[2]))
                                    continue
                                raise self._conflict(c.key, None)
                        ts = c.ts
                        if ts is None:
                            if now is None:
                                now = self._clock()
                            ts = max(now, ledger.last_ts)
                        if process is not None:
                            applied = process(c.type, c.payload, ts)
                            result = applied[0].result.to_dict()
                            caused = [(NewEvent(a.type, a.payload, None, a.ts), a.result.to_dict())
                                      for a in applied[1:]]
                        else:
                            result = apply(c.type, c.payload, ts).to_dict()
                            caused = []
                    except MarginCallError as exc:
                        outcomes[i] = exc
                        continue
                    if c.key is not None:
                        pending_keys[c.key] = (c.type, payload_json, len(pending))
                    pending_index.append(i)
                    pending_caused.append(len(caused))
                    pending.append((new_event(NewEvent, (c.type, c.payload, c.key, ts, payload_json)), result))
                    pending.extend(caused)
                stored = log.append(pending)
            except BaseException:
                # the write failed, or the state machine failed half-way through a command (an engine fault):
                # memory may be ahead of the log, so it is rebuilt from the log
                self._rebuild_after_failure()
                raise
            at = 0
            new_ack: Any = tuple.__new__  # Ack(...) with every field given, without the named tuple's __new__
            for i, n_caused in zip(pending_index, pending_caused, strict=True):
                ev = stored[at]
                caused_events = tuple(stored[at + 1: at + 1 + n_caused]) if n_caused else ()
                outcomes[i] = new_ack(Ack, (ev.seq, ev.result, False, caused_events))
                at += 1 + n_caused
            for i, p in duplicates_of_pending:
                outcomes[i] = Ack(stored[p].seq, stored[p].result, True)
            if stored and self.snapshot_every:
                first, last = stored[0].seq, stored[-1].seq
                if last // self.snapshot_every > (first - 1) // self.snapshot_every:
                    self._snapshot(last, ledger)
            return cast(list[Outcome], outcomes)

    @staticmethod
    def _conflict(key: str, seq: int | None) -> IdempotencyConflict:
        where = f"event {seq}" if seq is not None else "an earlier event of this batch"
        return IdempotencyConflict(
            f"key: {key!r} was already used by {where} with a different type or payload", field="key"
        )

    def _snapshot(self, seq: int, ledger: LedgerLike) -> None:
        # A snapshot only speeds up recovery: failing to write one must not fail the acknowledged batch.
        try:
            self.log.save_snapshot(seq, ledger.snapshot())
        except StoreError:
            _log.exception("journal: snapshot at seq %d failed", seq)

    def snapshot_now(self) -> int:
        """Write a snapshot of the current state; returns its seq."""
        with self._lock:
            seq = self.log.last_seq()
            self.log.save_snapshot(seq, self.ledger.snapshot())
            return seq


def _folder(ledger: LedgerLike) -> Callable[..., Any]:
    """The cheapest way ``ledger`` offers to apply an event read back from the log."""
    return cast(Callable[..., Any], getattr(ledger, "fold", None) or getattr(ledger, "apply_without_result", None)
                or ledger.apply)


def fold(events: Iterable[Any], ledger: LedgerLike) -> LedgerLike:
    """Apply stored ``events`` to ``ledger`` in order; a rejection on replay is a :class:`RecoveryError`.

    Only the state is needed, so a ledger's ``fold`` (an accepted event's state change) is used when it has
    one, else its ``apply_without_result``, else ``apply``."""
    apply = _folder(ledger)
    for ev in events:
        try:
            apply(ev.type, ev.payload, ts=ev.ts)
        except MarginCallError as exc:
            raise RecoveryError(f"event {ev.seq} ({ev.type}) is rejected on replay: {exc.code}: {exc}") from exc
    return ledger


def fold_log(log: EventLog, ledger: LedgerLike, after_seq: int = 0) -> LedgerLike:
    """:func:`fold` of the events of ``log`` after ``after_seq``, read the fast way when the log's class offers
    one (``read_for_replay``: sequence number, timestamp, type and payload only), else through ``read``. Only
    the class is asked, so a wrapper that delegates other attributes still sees every read go through its
    ``read``."""
    if getattr(type(log), "read_for_replay", None) is None:
        return fold(log.read(after_seq, results=False), ledger)
    apply = _folder(ledger)
    if getattr(type(log), "read_for_replay_chunks", None) is not None:  # rows a chunk at a time
        chunks = log.read_for_replay_chunks  # type: ignore[attr-defined]
    else:
        def chunks(after: int) -> Iterator[list[Any]]:
            return ([row] for row in log.read_for_replay(after))  # type: ignore[attr-defined]
    with paused_gc():
        for rows in chunks(after_seq):
            for seq, ts, type_, payload in rows:
                try:
                    apply(type_, payload, ts)
                except MarginCallError as exc:
                    raise RecoveryError(f"event {seq} ({type_}) is rejected on replay: {exc.code}: {exc}") from exc
    return ledger


def replay(log: EventLog, ledger_factory: LedgerFactory | None = None) -> LedgerLike:
    """A fresh ledger folded from every event of ``log`` (snapshots ignored)."""
    factory = ledger_factory if ledger_factory is not None else default_ledger_factory()
    return fold_log(log, factory())


class GroupCommitter:
    """Gathers concurrent submits into batches written by one thread: one transaction (one fsync) per batch.

    A batch closes at ``max_batch`` events or ``max_wait_ms`` after its first event, whichever comes first;
    each caller's future resolves only after its batch is durable (or with the error that refused it).
    """

    def __init__(self, journal: Journal, *, max_batch: int = 1000, max_wait_ms: float = 2.0) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self.journal = journal
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self._queue: queue.SimpleQueue[tuple[Command, Future[Ack]] | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="margincall-group-commit", daemon=True)
        self._thread.start()

    def submit(
        self, type: str, payload: dict[str, Any], key: str | None = None, ts: int | None = None
    ) -> Future[Ack]:
        """Queue one event; the future gives its :class:`Ack` once durable, or raises why it was refused."""
        if self._closed:
            raise RuntimeError("GroupCommitter is closed")
        fut: Future[Ack] = Future()
        self._queue.put((Command(type, payload, key, ts), fut))
        return fut

    def submit_wait(
        self, type: str, payload: dict[str, Any], key: str | None = None, ts: int | None = None
    ) -> Ack:
        return self.submit(type, payload, key, ts).result()

    def close(self) -> None:
        """Write what is queued, then stop the writer thread."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()

    def __enter__(self) -> GroupCommitter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        q = self._queue
        stop = False
        while not stop:
            item = q.get()
            if item is None:
                return
            batch = [item]
            deadline = time.monotonic() + self.max_wait
            while len(batch) < self.max_batch:
                try:
                    nxt = q.get_nowait()
                except queue.Empty:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        nxt = q.get(timeout=remaining)
                    except queue.Empty:
                        break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            live = [(c, f) for c, f in batch if f.set_running_or_notify_cancel()]
            if not live:
                continue
            try:
                outcomes = self.journal.submit_many([c for c, _ in live])
            except BaseException as exc:
                for _, f in live:
                    f.set_exception(exc)
                continue
            for (_, f), o in zip(live, outcomes, strict=True):
                if isinstance(o, Ack):
                    f.set_result(o)
                else:
                    f.set_exception(o)


# -- verification -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Outcome of :func:`verify`: ``ok``, the events checked, and the first bad seq with the reason."""

    ok: bool
    events: int
    first_bad_seq: int | None = None
    code: str | None = None
    message: str | None = None
    digest: str | None = None


def verify(log: EventLog, ledger_factory: LedgerFactory | None = None) -> VerifyReport:
    """Walk the whole log: sequence without gaps, ``prev_hash`` links, each ``hash`` recomputed, each event
    accepted by a fresh ledger with the same result as stored (every field the stored result has),
    ``conservation_error()`` None after every event,
    and the latest snapshot equal (by digest) to the fold at its seq. Stops at the first bad event.

    Codes: ``seq_gap``, ``prev_hash_mismatch``, ``hash_mismatch``, ``rejected_on_replay``, ``result_mismatch``,
    ``conservation``, ``snapshot_mismatch``. A cut-off tail is not detectable from the log alone.
    """
    factory = ledger_factory if ledger_factory is not None else default_ledger_factory()
    ledger = factory()
    snap = log.latest_snapshot()
    snap_digest = factory.from_snapshot(snap[1]).digest() if snap is not None else None
    expected_seq, prev, n = 1, GENESIS_HASH, 0

    def bad(seq: int, code: str, message: str) -> VerifyReport:
        return VerifyReport(False, n, seq, code, message)

    for ev in log.read(0):
        if ev.seq != expected_seq:
            return bad(expected_seq, "seq_gap", f"expected event {expected_seq}, found {ev.seq}")
        if ev.prev_hash != prev:
            return bad(ev.seq, "prev_hash_mismatch", f"event {ev.seq}: prev_hash does not match event {ev.seq - 1}")
        if event_hash(prev, ev.seq, ev.key, ev.ts, ev.type, canonical_json(ev.payload)) != ev.hash:
            return bad(ev.seq, "hash_mismatch", f"event {ev.seq}: content does not match its hash")
        try:
            result = ledger.apply(ev.type, ev.payload, ts=ev.ts).to_dict()
        except MarginCallError as exc:
            return bad(ev.seq, "rejected_on_replay", f"event {ev.seq}: rejected on replay: {exc.code}: {exc}")
        if ev.result is not None and canonical_json({k: result.get(k) for k in ev.result}) != canonical_json(
                ev.result):  # a newer version may add fields to a result; those the log holds must be equal
            return bad(ev.seq, "result_mismatch", f"event {ev.seq}: stored result differs from the replayed one")
        error = ledger.conservation_error()
        if error is not None:
            return bad(ev.seq, "conservation", f"event {ev.seq}: {error}")
        n += 1
        if snap is not None and ev.seq == snap[0] and ledger.digest() != snap_digest:
            return bad(ev.seq, "snapshot_mismatch", f"snapshot at {ev.seq} differs from the fold of the log")
        prev, expected_seq = ev.hash, ev.seq + 1
    if snap is not None and snap[0] > n:
        return bad(snap[0], "snapshot_mismatch", f"snapshot at {snap[0]} is beyond the last event {n}")
    return VerifyReport(True, n, digest=ledger.digest())
