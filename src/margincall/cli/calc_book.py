"""``margincall calc --book FILE [--out FILE] [--instruments FILE] [--strict] [--quiet] [--exact]``: every row of
a book priced as its account's scenario (:mod:`margincall.calculator.book`).

The compiled evaluator (:mod:`margincall.calculator.book_compiled`) prices the book; its rows are the Decimal
reference's, which ``--exact`` runs alone.

With ``--out`` the rows and their results go to a CSV, Parquet or JSON-lines file (by its extension); without,
the first rows and a summary go to the terminal (80 columns). Bad rows are listed on stderr at the end, each with
its row number and field, and the exit status is 1; ``--strict`` stops at the first (status 2, no file written).
A progress bar runs on stderr when it is a terminal, unless ``--quiet``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pyarrow as pa  # type: ignore[import-untyped]
import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from margincall.calculator.book import (
    RESULT_COLUMNS,
    BookChunk,
    BookInstruments,
    DecimalEvaluator,
    RowError,
    price_book,
)
from margincall.calculator.book_compiled import CompiledEvaluator
from margincall.calculator.book_io import BookWriter, open_book
from margincall.cli.calc_ccxt import load_instruments
from margincall.cli.fmt import percent, price, readable
from margincall.model.errors import MarginCallError

if TYPE_CHECKING:
    from margincall.cli.calc_book_map import BookMap

#: Rows per chunk: memory is bounded by a chunk (plus the rows of one account).
CHUNK_ROWS = 65_536
SHOWN_ROWS = 10
SHOWN_ERRORS = 20
#: Flags used only with --book.
BOOK_FLAGS = ("--out", "--strict", "--quiet", "--exact")


def refuse_book_flags(book: str | None, given: dict[str, bool]) -> None:
    """Refuse calc flags a book would not use (``given``: by flag, whether given), and book flags without one."""
    from margincall.cli.calc_book_map import MAP_FLAGS

    if book is None:
        used = [flag for flag in (*BOOK_FLAGS, *MAP_FLAGS) if given.get(flag)]
        if used:
            raise MarginCallError(f"{used[0]}: used only with --book FILE", code="unused_input", field=used[0][2:])
        return
    allowed = {*BOOK_FLAGS, "--instruments", *MAP_FLAGS}
    if given.get("--map"):
        allowed.add("--output-json")  # the map as JSON
    unused = [flag for flag, on in given.items() if on and flag not in allowed]
    if unused:
        raise MarginCallError(f"{', '.join(unused)}: not used with --book (every position and its account come"
                              " from the book's rows)", code="unused_input", field=unused[0].lstrip("-"))  # fmt: skip


def _mm(value: str) -> str:
    """Money for reading without its asset: cents from 1 up, else eight places (a coin's amount)."""
    return readable(value, max_places=2 if abs(Decimal(value)) >= 1 else 8)


def _table(rows: list[dict[str, Any]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title=f"first {len(rows)} rows", title_justify="left")
    for name in ("account", "symbol", "liquidation", "bankruptcy", "MM", "to liq."):
        table.add_column(name, justify="left" if name in ("account", "symbol") else "right", no_wrap=True,
                         overflow="ellipsis", max_width=14 if name in ("account", "symbol") else None)  # fmt: skip
    for r in rows:
        if r["error"] is not None:
            table.add_row(str(r["account"]), str(r["symbol"]), "error", "", "", "")
            continue
        side = "L" if r["side"] == "long" else "S"
        table.add_row(str(r["account"]), f"{r['symbol']} {side}", price(r["liquidation_price"]),
                      price(r["bankruptcy_price"]), _mm(r["maintenance_margin"]),
                      percent(r["distance_to_liquidation"]))  # fmt: skip
    return table


def _out_schema(schema: pa.Schema | None) -> pa.Schema | None:
    """The output's columns: the book's, then the results (text)."""
    if schema is None:
        return None
    return pa.schema([*schema, *(pa.field(name, pa.string()) for name in RESULT_COLUMNS)])


def run_book(
    book: str,
    out: str | None,
    instruments_text: str | None,
    *,
    strict: bool,
    quiet: bool,
    exact: bool = False,
    chunk_rows: int = CHUNK_ROWS,
    console: Console | None = None,
    book_map: BookMap | None = None,
) -> int:
    """Price ``book`` (and map it with ``book_map``); the exit status (0, or 1 when some rows are bad)."""
    console = console or Console()
    err = Console(stderr=True)
    instruments = BookInstruments(None if instruments_text is None else load_instruments(instruments_text))
    reader = open_book(book, chunk_rows)
    writer = None if out is None else BookWriter(out)
    shown: list[dict[str, Any]] = []
    errors: list[RowError] = []
    rows = priced = 0
    progress = Progress(TextColumn("pricing"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                        console=err, disable=quiet or not sys.stderr.isatty(), transient=True)  # fmt: skip
    task = progress.add_task("book", total=None)
    if book_map is not None:
        book_map.start(instruments)

    def update(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    ok = False
    try:
        with progress:
            chunk: BookChunk
            evaluator = DecimalEvaluator(instruments) if exact else CompiledEvaluator(instruments)
            for chunk in price_book(reader, evaluator, strict=strict, progress=update):
                rows += chunk.batch.num_rows
                priced += chunk.batch.column("error").null_count
                errors.extend(chunk.errors)
                if book_map is not None:
                    book_map.add(chunk)
                if writer is not None:
                    writer.write(chunk.batch)
                elif len(shown) < SHOWN_ROWS:
                    shown.extend(chunk.batch.slice(0, SHOWN_ROWS - len(shown)).to_pylist())
        ok = True
    finally:
        if writer is not None:
            writer.close(ok=ok, schema=_out_schema(reader.schema))
    if writer is None:
        console.print(_table(shown))
    where = f", written to {out}" if out is not None else ""
    console.print(f"{rows:,} rows: {priced:,} priced, {rows - priced:,} not ({len(errors):,} bad){where}",
                  highlight=False, soft_wrap=True)  # fmt: skip
    for name in instruments.unused():
        err.print(f"note: {name}: no row of the book has this symbol", highlight=False)
    for e in errors[:SHOWN_ERRORS]:
        err.print(f"error: {e}", highlight=False, soft_wrap=True)
    if len(errors) > SHOWN_ERRORS:
        err.print(f"… and {len(errors) - SHOWN_ERRORS:,} more (the error column has each)", highlight=False)
    if book_map is not None:
        book_map.render(console)
    return 1 if errors else 0


def book_command(read: Callable[[str], str], book: str, out: str | None, instruments: str | None, *,
                 strict: bool, quiet: bool, exact: bool = False, book_map: BookMap | None = None) -> None:  # fmt: skip
    # the map's JSON alone on stdout: the book's summary goes to stderr then
    console = Console(stderr=True) if book_map is not None and book_map.as_json else None
    status = run_book(book, out, None if instruments is None else read(instruments), strict=strict, quiet=quiet,
                      exact=exact, console=console, book_map=book_map)  # fmt: skip
    if status:
        raise typer.Exit(status)


__all__ = ["book_command", "refuse_book_flags", "run_book"]
