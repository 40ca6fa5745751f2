"""``GET /v1/liquidation-map``: the liquidation map of the engine's book (the rules:
:mod:`margincall.math.liquidation_map`; the builder: :mod:`margincall.calculator.liquidation_map`).

The journal's lock is held only to read the book: each position's size, its symbol's mark and contract, and the
immutable inputs of its watch's price formulas (:class:`margincall.risk.status.WatchPrices`). The liquidation and
bankruptcy prices (by the venue's exact formula, as ``GET /v1/accounts/{id}/positions`` shows them), the grid, the
sums and the fund's draw are computed after the lock is released. The rows read are kept for the sequence number
they were read at, so maps asked for again before the next event (the dashboard's polling, other ranges, one symbol)
do not take the lock at all, and for ``liquidation_map_max_age_ms`` even when events came in (the answer's ``seq``
says when it was read). No account id leaves this module: the map is an aggregate every role may see.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from margincall.calculator.liquidation_map import build_map, map_to_json
from margincall.model.gcpause import paused_gc
from margincall.model.instrument import Instrument
from margincall.risk.engine import RiskEngine
from margincall.risk.status import WatchId, WatchPrices, watch_prices, watches_for


@dataclass(frozen=True, slots=True)
class BookRead:
    """The book as read under the lock at ``seq``: per position (symbol, side, size, mark) and the watch's price
    inputs (:class:`~margincall.risk.status.WatchPrices`, immutable); the contracts; the symbols with positions
    but no mark yet (left out of the map, named in the answer)."""

    seq: int
    positions: tuple[tuple[str, str, Decimal, Decimal, WatchPrices], ...]
    instruments: dict[str, Instrument]
    no_mark: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BookRows:
    """The map's rows of the book at ``seq``, each with its exact liquidation and bankruptcy price."""

    seq: int
    rows: tuple[dict[str, Any], ...]
    instruments: dict[str, Instrument]
    no_mark: tuple[str, ...]


def read_book(engine: RiskEngine, seq: int) -> BookRead:
    """What the map needs of the book (call under the journal's lock): each watch's price inputs, read once. The
    cyclic collector is held meanwhile (as the journal does for a batch): the read allocates only trees."""
    with paused_gc():
        return _read_book(engine, seq)


def _read_book(engine: RiskEngine, seq: int) -> BookRead:
    led = engine.ledger
    inputs: dict[WatchId, WatchPrices] = {}
    positions = []
    no_mark: set[str] = set()
    instruments: dict[str, Instrument] = {}
    for key, pos in led.positions.items():
        symbol = key.symbol
        mark = led.mark(symbol)
        if mark is None:
            no_mark.add(symbol)
            continue
        instruments[symbol] = led.markets[symbol].instrument
        watch = watches_for(led, key)
        got = inputs.get(watch)
        if got is None:
            got = inputs[watch] = watch_prices(led, watch)
        positions.append((symbol, "long" if pos.size > 0 else "short", abs(pos.size), mark, got))
    return BookRead(seq, tuple(positions), instruments, tuple(sorted(no_mark)))


def price_book(book: BookRead) -> BookRows:
    """The rows of ``book`` with each position's liquidation and bankruptcy price by the venue's formula (no lock
    needed); hedge-mode legs of one symbol in one cross account share their prices."""
    prices: dict[tuple[WatchId, str], tuple[Decimal | None, Decimal | None]] = {}
    rows = []
    for symbol, side, size, mark, inputs in book.positions:
        got = prices.get((inputs.watch, symbol))
        if got is None:
            got = prices[(inputs.watch, symbol)] = (inputs.price(symbol, False), inputs.price(symbol, True))
        rows.append({"symbol": symbol, "side": side, "size": size, "mark_price": mark,
                     "liquidation_price": got[0], "bankruptcy_price": got[1]})
    return BookRows(book.seq, tuple(rows), book.instruments, book.no_mark)


class BookCache:
    """The last :class:`BookRows` read, reused while the log's sequence number has not moved, or while it is
    younger than ``max_age`` seconds (so the lock is taken at most once per ``max_age``, whatever the load)."""

    def __init__(self, max_age: float = 0.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age = max_age
        self._clock = clock
        self._last: tuple[float, BookRows] | None = None
        self._lock = threading.Lock()

    def rows(self, read: Callable[[Callable[[RiskEngine], BookRead]], BookRead], last_seq: Callable[[], int]
             ) -> BookRows:
        """Rows of the book; ``read`` runs a function under the journal's lock, and only :func:`read_book` runs
        there (the pricing comes after)."""
        with self._lock:  # one reader at a time: a burst of requests reads the book once
            now = self._clock()
            if self._last is not None:
                at, last = self._last
                if now - at < self.max_age or last.seq == last_seq():
                    return last
            book = price_book(read(lambda engine: read_book(engine, last_seq())))
            self._last = (now, book)
            return book


def map_view(book: BookRows, funds: dict[str, Decimal], *, span: Decimal, steps: int,
             symbol: str | None) -> dict[str, Any]:
    """The map's JSON (:func:`margincall.calculator.liquidation_map.map_to_json`) with ``seq`` and ``no_mark``."""
    m = build_map([book.rows], book.instruments, fund=funds, span=span, steps=steps, symbol=symbol)
    return {"seq": book.seq, **map_to_json(m), "no_mark": list(book.no_mark)}
