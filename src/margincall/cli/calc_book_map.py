"""``margincall calc --book FILE --map [--map-html OUT.html] [--insurance-fund ASSET=AMOUNT …] [--map-range 0.3]
[--map-steps 30]``: the liquidation map of the book just priced (README, "The liquidation map of a book").

The priced rows stream into :class:`~margincall.calculator.liquidation_map.MapBuilder` chunk by chunk (memory
stays the builder's bins, never the book). A book may hold one symbol on several venues, whose contracts and
marks differ: the map is keyed by symbol and venue, ``"BTCUSDT · binance-usdm"``. Rows with an ``error`` have no
liquidation price; they are left out, and their count is said. A position with no mark uses its entry, as the
scenario does.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

from rich.console import Console

from margincall.calculator.book import BookChunk, BookInstruments
from margincall.calculator.evaluate import instrument_of
from margincall.calculator.liquidation_map import (
    DEFAULT_RANGE,
    DEFAULT_STEPS,
    LiquidationMap,
    MapBuilder,
    map_to_json,
)
from margincall.model.errors import MarginCallError
from margincall.model.instrument import Instrument
from margincall.model.numbers import to_decimal
from margincall.venues.profiles import get_venue

#: Flags of the map, used only with ``--book`` and ``--map``.
MAP_FLAGS = ("--map", "--map-html", "--insurance-fund", "--map-range", "--map-steps")
#: Between the symbol and the venue in a map key.
KEY_SEP = " · "
#: The priced columns the map reads.
_COLUMNS = ("symbol", "venue", "side", "size", "mark_price", "entry_price", "liquidation_price", "bankruptcy_price",
            "error")  # fmt: skip


def refuse_map_flags(given: Mapping[str, bool]) -> None:
    """Refuse the map's options without ``--map`` (an input is never silently ignored)."""
    if given.get("--map"):
        return
    used = [flag for flag in MAP_FLAGS[1:] if given.get(flag)]
    if used:
        raise MarginCallError(f"{used[0]}: used only with --map", code="unused_input", field=used[0][2:])


def parse_fund(values: list[str] | None) -> dict[str, Decimal]:
    """``ASSET=AMOUNT`` (repeatable) as ``{asset: balance}``; a balance is exact, at least 0, an asset given once."""
    fund: dict[str, Decimal] = {}
    for text in values or []:
        asset, sep, amount = text.partition("=")
        asset = asset.strip()
        if not sep or not asset:
            raise MarginCallError(f"--insurance-fund: expected ASSET=AMOUNT, got {text!r}", field="insurance-fund")
        if asset in fund:
            raise MarginCallError(f"--insurance-fund: {asset} given twice", field="insurance-fund")
        try:
            value = to_decimal(amount.strip(), asset)
        except MarginCallError as exc:
            raise MarginCallError(f"--insurance-fund: {exc}", field="insurance-fund") from None
        if value < 0:
            raise MarginCallError(f"--insurance-fund: {asset}: must be at least 0, got {amount}",
                                  field="insurance-fund")  # fmt: skip
        fund[asset] = value
    return fund


class BookMap:
    """The map of a book as :func:`~margincall.cli.calc_book.run_book` prices it: :meth:`start` with the book's
    instruments, :meth:`add` each priced chunk, :meth:`render` at the end."""

    def __init__(self, fund: Mapping[str, Decimal], span: str, steps: int, html: Path | None = None,
                 *, as_json: bool = False) -> None:  # fmt: skip
        try:
            span_d = to_decimal(span, "range")
        except MarginCallError as exc:
            raise MarginCallError(f"--map-{exc}", field="map-range") from None
        self.fund, self.span, self.steps, self.html, self.as_json = dict(fund), span_d, steps, html, as_json
        self.left_out = 0
        self._instruments = BookInstruments()
        try:  # the grid is checked before the book is read
            self._builder = self._new_builder()
        except MarginCallError as exc:
            raise MarginCallError(f"--map-{exc}", field=f"map-{exc.field}") from None

    def _new_builder(self) -> MapBuilder:
        return MapBuilder(self._lookup, fund=self.fund, span=self.span, steps=self.steps)

    def start(self, instruments: BookInstruments) -> None:
        self._instruments = instruments
        self._builder = self._new_builder()
        self.left_out = 0

    def _lookup(self, key: str) -> Instrument:
        symbol, _, venue = key.rpartition(KEY_SEP)
        spec = self._instruments.for_symbols(venue, {symbol}).get(symbol)
        return instrument_of(get_venue(venue), symbol, spec)

    def add(self, chunk: BookChunk) -> None:
        """Feed the chunk's priced rows; a row the map refuses (e.g. a mark unlike its symbol's) names its row."""
        names = [n for n in _COLUMNS if n in chunk.batch.schema.names]  # a book may have no mark_price column
        for i, row in enumerate(chunk.batch.select(names).to_pylist()):
            if row.get("error") is not None:
                self.left_out += 1
                continue
            mark = row.get("mark_price") or row.get("entry_price")
            item = {"symbol": f"{row['symbol']}{KEY_SEP}{row['venue']}", "side": row["side"], "size": row["size"],
                    "mark_price": mark, "liquidation_price": row["liquidation_price"],
                    "bankruptcy_price": row["bankruptcy_price"]}  # fmt: skip
            try:
                self._builder.add_rows([item])
            except MarginCallError as exc:
                field = (exc.field or "").partition(".")[2]
                message = str(exc).partition(".")[2] or str(exc)
                raise MarginCallError(f"--map: row {chunk.first_row + i}: {message}", field=field or None) from None

    def result(self) -> LiquidationMap:
        """The map of the rows added so far."""
        return self._builder.result()

    def render(self, console: Console) -> None:
        """The map's tables (or its JSON on stdout), the HTML file, and how many rows were left out."""
        from margincall.cli.liquidation_map import render_map
        from margincall.web.liquidation_map import render_html

        m = self.result()
        note = (f"{self.left_out:,} row{'s' if self.left_out != 1 else ''} with an error left out of the map"
                if self.left_out else "")  # fmt: skip
        if self.as_json:
            data = map_to_json(m)
            data["left_out"] = self.left_out
            if self.html is not None:
                self.html.write_text(render_html(data), encoding="utf-8")
            sys.stdout.write(json.dumps(data) + "\n")
            return
        render_map(m, self.html, console=console)
        if note:
            console.print(note, highlight=False)


def book_map(given: Mapping[str, bool], fund: list[str] | None, span: str | None, steps: int | None,
             html: str | None, *, as_json: bool) -> BookMap | None:  # fmt: skip
    """The map the flags ask for (``None`` without ``--map``), checked before the book is read."""
    refuse_map_flags(given)
    if not given.get("--map"):
        return None
    return BookMap(parse_fund(fund), str(DEFAULT_RANGE) if span is None else span,
                   DEFAULT_STEPS if steps is None else steps, None if html is None else Path(html),
                   as_json=as_json)  # fmt: skip


__all__ = ["KEY_SEP", "MAP_FLAGS", "BookMap", "book_map", "parse_fund", "refuse_map_flags"]
