"""The price desk: source prices become an index, posted marks are checked before they reach the log.

* ``POST /v1/prices/source``: each source tick (source, symbol, price, ts) updates the symbol's
  :class:`~margincall.prices.IndexPrice` (median of the fresh, non-outlying sources, docs/venues.md §3.6); the
  response carries the index. With ``mark_from_index`` the index is also posted as the symbol's mark.
* ``POST /v1/marks`` goes through the symbol's :class:`~margincall.prices.MarkFeed` first: NaN, ≤ 0, oversized,
  stale (an explicit ``ts`` older than ``mark_max_age_ms``) and out-of-order ticks are refused with their code;
  a move larger than ``mark_max_move`` from the last accepted mark is clamped to the band edge (or refused
  with ``mark_breaker = "reject"``). Only the accepted (possibly clamped) price is logged.

* ``POST /v1/ticks``: one tick of several symbols' marks (a venue's all-symbol mark stream), each mark checked
  as above, all taken or none, logged as one ``marks`` event: the engine checks every account once, at the new
  marks of all of them.

A mark given with an idempotency key that is already in the log skips the checks: the journal answers it with
the original acknowledgement.

Time (:mod:`margincall.api.clock`): a posted ``ts`` is the feed's source time. It must lie in the service's skew
window (``clock_skew`` otherwise), orders the symbol's marks and dates them for the staleness check, and is logged
in the payload as ``source_ts``; the event itself is stamped with ingestion time by the writer.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from margincall.api.clock import check_source_ts, now_ms
from margincall.model.errors import MarginCallError
from margincall.prices import IndexPrice, MarkFeed, MarkTick
from margincall.risk.engine import RiskEngine
from margincall.store.journal import Command

Reader = Callable[[Callable[[RiskEngine], Any]], Any]


class PriceDesk:
    def __init__(self, read: Reader, *, sources: Sequence[str], max_move: Decimal | None, breaker: str,
                 max_age_ms: int, index_max_age_ms: int, outlier_band: Decimal, min_sources: int,
                 key_seen: Callable[[str], bool], ts_max_ahead_ms: int = 5_000,
                 ts_max_behind_ms: int = 300_000) -> None:
        self._read = read
        self._key_seen = key_seen
        self._lock = threading.Lock()
        self._feeds: dict[str, MarkFeed] = {}
        self._indices: dict[str, IndexPrice] = {}
        self.sources = tuple(sources)
        self.max_move, self.breaker, self.max_age_ms = max_move, breaker, max_age_ms
        self.index_max_age_ms, self.outlier_band, self.min_sources = index_max_age_ms, outlier_band, min_sources
        self.ts_max_ahead_ms, self.ts_max_behind_ms = ts_max_ahead_ms, ts_max_behind_ms

    def source_ts(self, ts: int | None, now: int, field: str = "ts") -> int | None:
        """A client's ``ts`` checked against the skew window (None stays None)."""
        if ts is None:
            return None
        return check_source_ts(ts, now, max_ahead_ms=self.ts_max_ahead_ms, max_behind_ms=self.ts_max_behind_ms,
                               field=field)

    def _market(self, symbol: str) -> tuple[Decimal, Decimal | None, int]:
        def look(e: RiskEngine) -> tuple[Decimal, Decimal | None, int] | None:
            m = e.ledger.markets.get(symbol)
            if m is None:
                return None
            return m.instrument.tick_size, e.ledger.marks.get(symbol), e.ledger.last_ts

        found = self._read(look)
        if found is None:
            raise MarginCallError(f"unknown symbol {symbol!r}", code="unknown_symbol", field="symbol")
        return found  # type: ignore[no-any-return]

    def _feed(self, symbol: str) -> MarkFeed:
        feed = self._feeds.get(symbol)
        if feed is None:
            tick, mark, _last_ts = self._market(symbol)
            feed = MarkFeed([symbol], tick_sizes={symbol: tick}, max_move=self.max_move, breaker=self.breaker,
                            max_age_ms=self.max_age_ms)
            if mark is not None:  # the breaker's reference; the order against the log is the journal's check
                feed.seed(symbol, mark, 0)
            self._feeds[symbol] = feed
        return feed

    def check_mark(self, symbol: str, price: Decimal, ts: int | None, key: str | None
                   ) -> tuple[Command, MarkTick | None]:
        """The command to submit for a posted mark (raises the feed's refusal)."""
        if key is not None and self._key_seen(key):
            return Command("mark", _stamped({"symbol": symbol, "price": format(price, "f")}, ts), key), None
        now = now_ms()
        self.source_ts(ts, now)
        with self._lock:
            tick = self._accept(self._feed(symbol), symbol, price, ts, now)
        return Command("mark", _stamped({"symbol": symbol, "price": format(tick.price, "f")}, ts), key), tick

    @staticmethod
    def _accept(feed: MarkFeed, symbol: str, price: Decimal, ts: int | None, now: int) -> MarkTick:
        """``feed.accept`` at the posted ``ts`` (checked for staleness against ``now``), or without one at ``now``
        (after the symbol's last accepted tick)."""
        if ts is None:
            last = feed.last(symbol)
            return feed.accept(symbol, price, max(now, last.ts + 1 if last is not None else now))
        return feed.accept(symbol, price, ts, now=now)

    def check_tick(self, marks: Sequence[tuple[str, Decimal]], ts: int | None, key: str | None
                   ) -> tuple[Command, list[MarkTick]]:
        """The one ``marks`` command for a tick of several symbols, each mark checked as :meth:`check_mark` does;
        all taken or none: a refusal of any (raised, with ``marks[i].`` before its field) leaves every feed as it
        was (the checks run on copies, kept only when all pass)."""
        def payload(items: Sequence[tuple[str, Decimal]]) -> dict[str, Any]:
            return {"marks": [{"symbol": sym, "price": format(p, "f")} for sym, p in items]}

        if key is not None and self._key_seen(key):
            return Command("marks", _stamped(payload(marks), ts), key), []
        seen: set[str] = set()
        now = now_ms()
        self.source_ts(ts, now)
        with self._lock:
            staged: dict[str, MarkFeed] = {}
            ticks: list[MarkTick] = []
            for i, (symbol, price) in enumerate(marks):
                try:
                    if symbol in seen:
                        raise MarginCallError(f"{symbol} appears twice in one tick", code="duplicate", field="symbol")
                    seen.add(symbol)
                    feed = copy.deepcopy(self._feed(symbol))
                    ticks.append(self._accept(feed, symbol, price, ts, now))
                except MarginCallError as exc:
                    raise MarginCallError(f"marks[{i}]: {exc}", code=exc.code, field=f"marks[{i}].{exc.field}"
                                          ) from None
                staged[symbol] = feed
            self._feeds.update(staged)
        return Command("marks", _stamped(payload([(t.symbol, t.price) for t in ticks]), ts), key), ticks

    def source_tick(self, source: str, symbol: str, price: Decimal, ts: int | None) -> dict[str, Any]:
        """Keep one source price and return the symbol's index (or why there is none)."""
        now = now_ms()
        self.source_ts(ts, now)
        with self._lock:
            self._market(symbol)
            index = self._indices.get(symbol)
            if index is None:
                index = self._indices[symbol] = IndexPrice(
                    symbol, self.sources, max_age_ms=self.index_max_age_ms, outlier_band=self.outlier_band,
                    min_sources=self.min_sources)
            index.update(source, symbol, price, now if ts is None else ts)
            try:
                res = index.evaluate(now if ts is None else max(ts, now))
            except MarginCallError as exc:
                # the source price was kept; only no index can be formed from the sources yet (not a refusal)
                return {"symbol": symbol, "index": None, "index_error": {"code": exc.code, "message": str(exc)}}
        return {"symbol": symbol, "index": format(res.price, "f"), "ts": res.ts, "used": list(res.used),
                "stale": list(res.stale), "outliers": list(res.outliers)}

    def index_view(self) -> dict[str, Any]:
        now = now_ms()
        out: dict[str, Any] = {}
        with self._lock:
            for symbol, index in sorted(self._indices.items()):
                try:
                    r = index.evaluate(now)
                    out[symbol] = {"index": format(r.price, "f"), "used": list(r.used), "stale": list(r.stale),
                                   "outliers": list(r.outliers)}
                except MarginCallError as exc:
                    out[symbol] = {"index": None, "error": {"code": exc.code, "message": str(exc)}}
        return out


def _stamped(payload: dict[str, Any], ts: int | None) -> dict[str, Any]:
    """The payload with the client's source time, when it gave one."""
    return payload if ts is None else {**payload, "source_ts": ts}
