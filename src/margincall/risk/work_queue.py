"""The queue of liquidation work: the watches waiting for the waterfall, most under-margined first.

Within a ``process()`` call the queue is a heap the engine pushes to (a watch found liquidatable, or a liquidation
in progress) and pops from while its step budget lasts (``max_steps_per_tick``). What is left at the end of the
call is carried to the next one, and that part is state folded from the log, like the bands and the
liquidations in progress, so an engine rebuilt from the log (or a snapshot) takes the carried watches in the same
order as the engine that ran through:

* ``liquidation_queued`` (a watch and its ``priority``): the watch is carried with that priority — logged at the
  end of a call for every watch carried that the log does not hold with that priority already;
* ``liquidation_dequeued``: a carried watch left the queue without an event of its own (taken from the queue
  and found no longer liquidatable);
* every waterfall event of a watch (``liquidation_started``, ``partial_liquidation``, ``liquidation``,
  ``bankruptcy_settlement``, ``liquidation_finished``) takes it out of the carried queue: it was taken from the
  queue to be worked (if it is carried again, a ``liquidation_queued`` follows at the end of the call).

A priority is ``−MM / equity`` for equity > 0 and ``−10³⁰ + equity`` otherwise (smaller first), ties broken by
the watch's name: a total order, so the heap of a rebuilt engine pops in the same order whatever its layout.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from margincall.ledger import plain
from margincall.risk.status import MarginStatus, WatchId
from margincall.risk.waterfall import watch_fields

#: The queue's own events: they change no ledger state.
QUEUE_EVENTS = frozenset({"liquidation_queued", "liquidation_dequeued"})
#: The waterfall's events of one watch: the watch was taken from the queue.
_WORKED = frozenset({"liquidation_started", "partial_liquidation", "liquidation", "bankruptcy_settlement",
                     "liquidation_finished"})
#: The priority of a watch with no equity left: before every watch with equity.
_BANKRUPT = Decimal("-1e30")


def priority(st: MarginStatus) -> Decimal:
    """The watch's place in the queue, smaller first: the larger MM / equity first, equity ≤ 0 before all."""
    return -(st.maintenance_margin / st.equity) if st.equity > 0 else _BANKRUPT + st.equity


def _watch(p: Mapping[str, Any]) -> WatchId:
    return WatchId(p["scope"], p["account"], p["what"])


class WorkQueue:
    """The live heap of one call, and the carried part as the log holds it (:attr:`carried`)."""

    def __init__(self) -> None:
        self._heap: list[tuple[Decimal, str, WatchId]] = []
        #: the watches in the heap, with their priority
        self._queued: dict[WatchId, Decimal] = {}
        #: the carried queue as folded from the log: watch → priority
        self.carried: dict[WatchId, Decimal] = {}
        #: watches pushed or popped since the last :meth:`changes`
        self._moved: set[WatchId] = set()
        #: the heap does not hold :attr:`carried` (the log was folded without the heap: replay, a snapshot)
        self._stale = False

    def __contains__(self, watch: object) -> bool:
        return watch in (self.carried if self._stale else self._queued)

    def __len__(self) -> int:
        return len(self.carried) if self._stale else len(self._queued)

    def __iter__(self) -> Iterator[WatchId]:
        return iter(list(self.carried if self._stale else self._queued))

    # --------------------------------------------------------------------------------------- a live call
    def begin_call(self) -> None:
        """Before a call works the queue: rebuild the heap from the carried queue if the log was folded without it."""
        if self._stale:
            self._queued = dict(self.carried)
            self._heap = [(key, str(w), w) for w, key in self._queued.items()]
            heapq.heapify(self._heap)
            self._moved = set()
            self._stale = False

    def push(self, watch: WatchId, st: MarginStatus) -> None:
        key = priority(st)
        heapq.heappush(self._heap, (key, str(watch), watch))
        self._queued[watch] = key
        self._moved.add(watch)

    def pop(self) -> WatchId:
        _key, _name, watch = heapq.heappop(self._heap)
        del self._queued[watch]
        self._moved.add(watch)
        return watch

    def __bool__(self) -> bool:
        return bool(self.carried if self._stale else self._heap)

    def changes(self) -> list[tuple[str, dict[str, Any]]]:
        """At the end of a call: the events that make the log's carried queue the heap's (by watch name)."""
        out: list[tuple[str, dict[str, Any]]] = []
        moved, self._moved = self._moved, set()
        for watch in sorted(moved, key=str):
            key = self._queued.get(watch)
            fields = watch_fields(watch)
            if key is not None:
                if self.carried.get(watch) != key:
                    out.append(("liquidation_queued", {**fields, "priority": plain(key)}))
            elif watch in self.carried:
                out.append(("liquidation_dequeued", fields))
        return out

    # ------------------------------------------------------------------------------------------ the fold
    def fold(self, event_type: str, p: Mapping[str, Any], live: bool) -> None:
        """Fold one engine event into the carried queue; ``live``: emitted by this engine's own call, whose heap
        already holds the change (otherwise the heap is rebuilt at the next call)."""
        if event_type == "liquidation_queued":
            self.carried[_watch(p)] = Decimal(p["priority"])
        elif event_type == "liquidation_dequeued" or event_type in _WORKED:
            if self.carried.pop(_watch(p), None) is None:
                return
        else:
            return
        if not live:
            self._stale = True

    def snapshot(self) -> list[list[str]]:
        return sorted([w.scope, w.account, w.what, plain(key)] for w, key in self.carried.items())

    def restore(self, rows: list[list[str]]) -> None:
        self.carried = {WatchId(s, a, w): Decimal(key) for s, a, w, key in rows}
        self._stale = True
