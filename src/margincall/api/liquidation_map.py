"""``GET /v1/liquidation-map``: the liquidation map of the engine's book (the rules:
:mod:`margincall.math.liquidation_map`; the builder: :mod:`margincall.calculator.liquidation_map`).

The journal's lock is held only to read the book: each position's size, its symbol's mark and contract, and its
liquidation and bankruptcy price by the venue's exact formula (:mod:`margincall.risk.status`, as
``GET /v1/accounts/{id}/positions`` shows them). The grid, the sums and the fund's draw are computed after the
lock is released. The rows read are kept for the sequence number they were read at, so maps asked for again
before the next event (the dashboard's polling, other ranges, one symbol) do not take the lock for long again.
No account id leaves this module: the map is an aggregate every role may see.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from margincall.calculator.liquidation_map import build_map, map_to_json
from margincall.model.instrument import Instrument
from margincall.risk.engine import RiskEngine
from margincall.risk.status import WatchId, bankruptcy_price, liquidation_price, watches_for


@dataclass(frozen=True, slots=True)
class BookRows:
    """The book as the map reads it, at ``seq``: one row per position (no account), the contracts, the symbols
    with positions but no mark yet (left out of the map, named in the answer)."""

    seq: int
    rows: tuple[dict[str, Any], ...]
    instruments: dict[str, Instrument]
    no_mark: tuple[str, ...]


def read_book(engine: RiskEngine, seq: int) -> BookRows:
    """Every position's map row at the current marks (call under the journal's lock)."""
    led = engine.ledger
    prices: dict[tuple[WatchId, str], tuple[Decimal | None, Decimal | None]] = {}
    rows: list[dict[str, Any]] = []
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
        got = prices.get((watch, symbol))
        if got is None:  # hedge-mode legs of one symbol in one cross account share their prices
            got = prices[(watch, symbol)] = (liquidation_price(led, watch, symbol),
                                             bankruptcy_price(led, watch, symbol))
        rows.append({"symbol": symbol, "side": "long" if pos.size > 0 else "short", "size": abs(pos.size),
                     "mark_price": mark, "liquidation_price": got[0], "bankruptcy_price": got[1]})
    return BookRows(seq, tuple(rows), instruments, tuple(sorted(no_mark)))


class BookCache:
    """The last :class:`BookRows` read, reused while the log's sequence number has not moved."""

    def __init__(self) -> None:
        self._last: BookRows | None = None
        self._lock = threading.Lock()

    def rows(self, read: Callable[[Callable[[RiskEngine], BookRows]], BookRows], last_seq: Callable[[], int]
             ) -> BookRows:
        """Rows at the current sequence number; ``read`` runs a function under the journal's lock."""
        with self._lock:  # one reader at a time: a burst of requests reads the book once
            last = self._last
            if last is not None and last.seq == last_seq():
                return last
            book = read(lambda engine: read_book(engine, last_seq()))
            self._last = book
            return book


def map_view(book: BookRows, funds: dict[str, Decimal], *, span: Decimal, steps: int,
             symbol: str | None) -> dict[str, Any]:
    """The map's JSON (:func:`margincall.calculator.liquidation_map.map_to_json`) with ``seq`` and ``no_mark``."""
    m = build_map([book.rows], book.instruments, fund=funds, span=span, steps=steps, symbol=symbol)
    return {"seq": book.seq, **map_to_json(m), "no_mark": list(book.no_mark)}
