"""Time in the service: one ingestion clock, and the skew window a client's own timestamp must fall in.

The rule (README, "Time and order"):

* Every event the service logs is stamped with **ingestion time** by :class:`IngestClock`, in one place (the
  writer thread, which alone submits to the journal), monotonically: never earlier than the last stamp nor the
  log's last event. So no event can arrive "out of order" against the log, and nothing a client sends can move the
  log's clock: a fill that reaches the service a millisecond after a mark is booked, never refused.
* A client's ``ts`` is its **source time** (the matching engine's fill time, the feed's publication time). It is
  checked against the window ``[now − ts_max_behind_ms, now + ts_max_ahead_ms]`` here, before anything is queued,
  and refused with ``clock_skew`` (HTTP 422) outside it: microseconds sent as milliseconds, or ``2**63 − 1``, are
  refused instead of poisoning the log. An accepted ``ts`` is kept in the event's payload as ``source_ts``.
* Marks are additionally checked per symbol by the price desk, as venues do: not after the symbol's last accepted
  mark is ``out_of_order``, older than ``mark_max_age_ms`` is ``stale``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from margincall.model.errors import MarginCallError


def now_ms() -> int:
    """Wall-clock milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


class ClockSkew(MarginCallError):
    """A client's ``ts`` lies outside the configured clock-skew window."""

    code = "clock_skew"


class IngestClock:
    """Monotonic ingestion time in ms: ``stamp()`` is the wall clock, but never below an earlier stamp or the
    ``floor`` (the log's last timestamp) it was started from."""

    def __init__(self, floor: int = 0, clock: Callable[[], int] = now_ms) -> None:
        self._last = floor
        self._clock = clock
        self._lock = threading.Lock()

    def stamp(self, floor: int = 0) -> int:
        """The next ingestion time: ``max(now, last stamp, floor)``."""
        with self._lock:
            t = max(self._clock(), self._last, floor)
            self._last = t
            return t

    @property
    def last(self) -> int:
        return self._last


def check_source_ts(ts: int, now: int, *, max_ahead_ms: int, max_behind_ms: int, field: str = "ts") -> int:
    """``ts`` when it lies in ``[now − max_behind_ms, now + max_ahead_ms]``, else :class:`ClockSkew` naming the
    field, the window and what was probably meant (a timestamp in µs or ns instead of ms)."""
    if ts > now + max_ahead_ms:
        hint = ""
        for unit, factor in (("microseconds", 1_000), ("nanoseconds", 1_000_000)):
            if abs(ts // factor - now) <= max(max_ahead_ms, max_behind_ms):
                hint = f" (it looks like {unit}; ts is in milliseconds since the epoch)"
                break
        raise ClockSkew(f"{field}: {ts} is {ts - now} ms ahead of the service clock ({now}); at most "
                        f"{max_ahead_ms} ms ahead is accepted{hint}", field=field)
    if ts < now - max_behind_ms:
        raise ClockSkew(f"{field}: {ts} is {now - ts} ms behind the service clock ({now}); at most "
                        f"{max_behind_ms} ms behind is accepted", field=field)
    return ts
