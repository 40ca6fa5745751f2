"""The single writer: every command of every request goes through one thread into the Journal.

Requests queue their commands; the writer thread drains whatever is queued (up to ``max_batch`` commands,
never waiting for more: under load the batches grow by themselves, idle there is no added latency) and
submits it with :meth:`Journal.submit_many` — one transaction, one fsync for many requests. The stored events
are handed to ``on_stored`` on the requester's event loop *before* the requests' futures resolve, so the bus
sees every event in sequence order and a client that got its ack can already have received the stream message.

Every command is stamped here with ingestion time by the service's :class:`~margincall.api.clock.IngestClock`
(monotonic, never below the log's last timestamp): this thread is the one place the service's events get their
``ts``, so concurrent clients cannot race each other into an out-of-order refusal. A client's own time travels in
the payload (``source_ts``), checked against the skew window before it is queued (:mod:`margincall.api.clock`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from margincall.api.clock import IngestClock
from margincall.store.journal import Ack, Command, Journal, Outcome

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Stored:
    """A stored event as the service publishes it."""

    seq: int
    ts: int
    type: str
    key: str | None
    payload: dict[str, Any]
    result: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "ts": self.ts, "type": self.type, "key": self.key, "payload": self.payload,
                "result": self.result}


@dataclass
class _Item:
    commands: list[Command]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[list[Outcome]]
    enqueued: float


def stored_of(commands: Sequence[Command], outcomes: Sequence[Outcome]) -> list[Stored]:
    """The events a batch stored, in sequence order: each new input, then what it caused."""
    out: list[Stored] = []
    for c, o in zip(commands, outcomes, strict=True):
        if isinstance(o, Ack) and not o.duplicate:
            out.append(Stored(o.seq, c.ts or 0, c.type, c.key, c.payload, o.result))
            out.extend(Stored(e.seq, e.ts, e.type, e.key, e.payload, e.result) for e in o.caused)
    return out


class Writer:
    def __init__(
        self,
        journal: Journal,
        on_stored: Callable[[list[Stored]], None],
        on_batch: Callable[[list[Command], list[Outcome], list[float]], None] | None = None,
        *,
        max_batch: int = 5_000,
    ) -> None:
        self.journal = journal
        self.on_stored = on_stored
        self.on_batch = on_batch
        self.max_batch = max_batch
        self.clock = IngestClock(journal.ledger.last_ts)
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="margincall-writer", daemon=True)
        self._thread.start()

    async def submit(self, commands: list[Command]) -> list[Outcome]:
        """Queue ``commands`` (kept in order) and wait until they are durable; one outcome per command."""
        if self._closed:
            raise RuntimeError("the service is shutting down")
        if not commands:
            return []
        if any(c.ts is not None for c in commands):
            raise ValueError("the service stamps ingestion time itself: put a source time in the payload "
                             "(source_ts), not in Command.ts")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[list[Outcome]] = loop.create_future()
        self._queue.put(_Item(commands, loop, fut, time.perf_counter()))
        return await fut

    def close(self) -> None:
        """Write what is queued, then stop."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()

    # -- the thread -------------------------------------------------------------------------------------
    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                return
            items = [first]
            n = len(first.commands)
            while n < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                items.append(nxt)
                n += len(nxt.commands)
            self._write(items)

    def _stamp(self, commands: list[Command]) -> list[Command]:
        now = self.clock.stamp(self.journal.ledger.last_ts)
        # Built directly: dataclasses.replace costs ~10x as much (it reads the fields and calls through kwargs),
        # and this runs for every item written (measured: 13 % of the writer thread's time on fills).
        return [Command(c.type, c.payload, c.key, now) for c in commands]

    def _write(self, items: list[_Item]) -> None:
        try:
            commands = self._stamp([c for it in items for c in it.commands])
            outcomes = self.journal.submit_many(commands)
        except BaseException as exc:
            if len(items) > 1:  # isolate the request that broke the batch; the others go through
                for it in items:
                    self._write([it])
                return
            _log.exception("writer: batch failed")
            self._resolve(items[0], exc)
            return
        try:
            if self.on_batch is not None:
                self.on_batch(commands, outcomes, [it.enqueued for it in items for _ in it.commands])
        except Exception:
            _log.exception("writer: metrics failed")
        events = stored_of(commands, outcomes)
        loops = {id(it.loop): it.loop for it in items}
        for loop in loops.values():
            if events:
                loop.call_soon_threadsafe(self.on_stored, events)
        at = 0
        for it in items:
            k = len(it.commands)
            self._resolve(it, outcomes[at: at + k])
            at += k

    @staticmethod
    def _resolve(item: _Item, result: list[Outcome] | BaseException) -> None:
        def done() -> None:
            if item.future.done():
                return
            if isinstance(result, BaseException):
                item.future.set_exception(result)
            else:
                item.future.set_result(result)

        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            item.loop.call_soon_threadsafe(done)
