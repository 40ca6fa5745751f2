"""Whole books: every row of a positions file priced as its account's scenario, chunk by chunk.

A book has one row per position with the scenario's field names (README, "Whole books"). The rows of one
account on one venue — the *account*, keyed by the ``account`` and ``venue`` columns — form one scenario
(:class:`~margincall.calculator.scenario.Scenario`): its positions are the rows, ``wallet_balance`` (and, when
given, ``formula`` and ``taker_fee``) are repeated on its rows and must agree, and its instruments are the
built-in ones or those of the instruments file. Each row gets the numbers ``margincall calc --json`` gives that
position of that scenario, rounded once for the book:

* ``liquidation_price``, ``bankruptcy_price``: at the instrument's tick, as the venue rounds (calc's own values);
* ``initial_margin``, ``maintenance_margin``: up to the asset's smallest unit (``DEFAULT_UNIT``, 1e-8: the
  venue's favour, as a requirement is charged);
* ``margin_ratio``: to 1e-8, in the direction that shows more risk (up for MM / equity, down for equity / MM);
* ``distance_to_liquidation``: in % of the mark, to 1e-4 %, toward zero (never farther than it is).

An account's rows must be contiguous (a book grouped or sorted by account); they may span chunks. A row that
cannot be read gets an ``error`` (row number and field) and its account's other rows are not priced (the account's
scenario cannot be), while the rest of the book is; ``strict=True`` stops at the first bad row instead.

Evaluation is pluggable per chunk (:class:`ChunkEvaluator`); :class:`DecimalEvaluator` is the reference: each
account's scenario through :func:`~margincall.calculator.evaluate.evaluate`, the code ``calc --json`` runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal
from typing import Any, Protocol

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
from pydantic import ValidationError

from margincall.calculator.book_groups import SeenAccounts, UngroupedBook, account_runs
from margincall.calculator.book_io import BookReader
from margincall.calculator.book_pipeline import in_order
from margincall.calculator.evaluate import PositionResult, evaluate
from margincall.calculator.scenario import InstrumentIn, PositionIn, Scenario
from margincall.ledger.state import DEFAULT_UNIT
from margincall.math.trade import charge
from margincall.model.errors import MarginCallError
from margincall.model.numbers import to_decimal
from margincall.venues.profiles import RatioConvention, get_venue

#: The position's own columns, by scenario field name.
POSITION_COLUMNS = ("symbol", "side", "size", "entry_price", "mark_price", "margin_mode", "leverage",
                    "isolated_margin", "extra_margin", "position_side")  # fmt: skip
#: Columns that belong to the account and are repeated on each of its rows.
ACCOUNT_COLUMNS = ("wallet_balance", "formula", "taker_fee")
REQUIRED_COLUMNS = ("account", "venue", "symbol", "side", "size", "entry_price", "leverage")
#: Scenario fields a book cannot carry: refused, never ignored.
REFUSED_COLUMNS = {"target_liquidation_price": "a book has no margin_to_add column; price it with calc --json"}
RESULT_COLUMNS = ("liquidation_price", "bankruptcy_price", "initial_margin", "maintenance_margin", "margin_ratio",
                  "distance_to_liquidation", "error")  # fmt: skip
RATIO_UNIT = Decimal("1e-8")
DISTANCE_UNIT = Decimal("1e-4")
#: Which way a margin ratio is rounded: toward more risk in the venue's convention (docs/venues.md §0).
RATIO_ROUNDING = {RatioConvention.MM_OVER_EQUITY: ROUND_CEILING, RatioConvention.EQUITY_OVER_MM: ROUND_FLOOR}


class BookError(MarginCallError):
    code = "book_row"


@dataclass(frozen=True, slots=True)
class RowError:
    row: int  # 1-based data row (a CSV's line is row + 1)
    field: str
    message: str
    #: False for a row left unpriced because another row of its account is bad
    primary: bool = True

    def __str__(self) -> str:
        return f"row {self.row}: {self.field}: {self.message}" if self.field else f"row {self.row}: {self.message}"


@dataclass(frozen=True, slots=True)
class BookValues:
    """One row's numbers, rounded for the book (see the module docstring); ``None`` where calc gives none."""

    liquidation_price: Decimal | None
    bankruptcy_price: Decimal | None
    initial_margin: Decimal
    maintenance_margin: Decimal
    margin_ratio: Decimal | None
    distance_to_liquidation: Decimal | None


def book_values(result: PositionResult, convention: RatioConvention) -> BookValues:
    """calc's result for one position, rounded for the book."""
    ratio = result.margin_ratio
    distance = result.distance_to_liquidation_pct
    return BookValues(
        result.liquidation_price,
        result.bankruptcy_price,
        charge(result.initial_margin, DEFAULT_UNIT),
        charge(result.maintenance_margin, DEFAULT_UNIT),
        None if ratio is None else ratio.quantize(RATIO_UNIT, RATIO_ROUNDING[convention]),
        None if distance is None else distance.quantize(DISTANCE_UNIT, ROUND_DOWN),
    )


class BookInstruments:
    """The instruments of an instruments file (scenario schema), validated once: ``{symbol: instrument}`` for
    every venue, and optionally ``{"venues": {venue: {symbol: instrument}}}`` for one venue's own (they win)."""

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        data = dict(data or {})
        by_venue = data.pop("venues", None) or {}
        if not isinstance(by_venue, Mapping):
            raise MarginCallError("instruments.venues: expected an object of venue → {symbol: instrument}",
                                  field="instruments.venues")  # fmt: skip
        self.common = {s: _instrument_in(spec, f"instruments.{s}") for s, spec in data.items()}
        self.venues: dict[str, dict[str, InstrumentIn]] = {}
        for venue, specs in by_venue.items():
            get_venue(venue)
            if not isinstance(specs, Mapping):
                raise MarginCallError(f"instruments.venues.{venue}: expected an object of symbol → instrument",
                                      field=f"instruments.venues.{venue}")  # fmt: skip
            where = f"instruments.venues.{venue}"
            self.venues[venue] = {s: _instrument_in(spec, f"{where}.{s}") for s, spec in specs.items()}
        self.used: set[tuple[str | None, str]] = set()

    def for_symbols(self, venue: str, symbols: set[str]) -> dict[str, InstrumentIn]:
        out = {}
        own = self.venues.get(venue, {})
        for symbol in symbols:
            if symbol in own:
                out[symbol] = own[symbol]
                self.used.add((venue, symbol))
            elif symbol in self.common:
                out[symbol] = self.common[symbol]
                self.used.add((None, symbol))
        return out

    def unused(self) -> list[str]:
        """Instruments no row used (reported, never silently ignored)."""
        names = [f"instruments.{s}" for s in self.common if (None, s) not in self.used]
        names += [f"instruments.venues.{v}.{s}" for v, specs in self.venues.items() for s in specs
                  if (v, s) not in self.used]  # fmt: skip
        return names


def _instrument_in(spec: Any, where: str) -> InstrumentIn:
    try:
        return InstrumentIn.model_validate(spec)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ").removeprefix("number: ")
        raise MarginCallError(f"{where}{loc}: {msg}", field=f"{where}{loc}") from None


@dataclass
class BookAccount:
    """One account's rows: their positions (``None`` for a row that failed to read) and the account fields."""

    account: str
    venue: str
    rows: list[int] = field(default_factory=list)  # row numbers, in book order
    positions: list[PositionIn | None] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)  # wallet_balance, formula, taker_fee as given
    error: RowError | None = None

    def scenario(self, instruments: BookInstruments) -> Scenario:
        positions = [p for p in self.positions if p is not None]
        return Scenario(
            venue=self.venue or "generic",
            formula=self.fields.get("formula"),
            wallet_balance=self.fields.get("wallet_balance", Decimal(0)),
            taker_fee=self.fields.get("taker_fee"),
            instruments=instruments.for_symbols(self.venue or "generic", {p.symbol for p in positions}),
            positions=positions,
        )


@dataclass(frozen=True, slots=True)
class AccountOutcome:
    """An account's rows priced (``values``, in row order) or the error of each of its rows."""

    values: tuple[BookValues, ...] | None
    errors: tuple[RowError, ...] | None


@dataclass(frozen=True)
class Chunk:
    """Complete accounts of a book: their rows as read (``batch``, the first being row ``first_row``) and the
    offset where each account's rows start (``starts``, int64: an account's rows are contiguous)."""

    batch: pa.RecordBatch
    first_row: int
    starts: np.ndarray

    def bounds(self, k: int) -> tuple[int, int]:
        """Offsets of account ``k``'s rows: ``[a, b)``."""
        b = int(self.starts[k + 1]) if k + 1 < len(self.starts) else self.batch.num_rows
        return int(self.starts[k]), b

    def accounts(self) -> list[BookAccount]:
        """Every account, its rows read exactly (:func:`read_row`; a bad row is its account's ``error``)."""
        columns = {name: self.batch.column(name).to_pylist() for name in self.batch.schema.names
                   if name in (*POSITION_COLUMNS, *ACCOUNT_COLUMNS, "account", "venue")}  # fmt: skip
        out = []
        for k in range(len(self.starts)):
            a, b = self.bounds(k)
            acc = BookAccount(str(_cell(columns["account"][a]) or ""), str(_cell(columns["venue"][a]) or "generic"))
            for i in range(a, b):
                _add_row(acc, self.first_row + i, {name: col[i] for name, col in columns.items()})
            if not acc.account:
                acc.error = acc.error or RowError(self.first_row + a, "account", "missing (empty)")
            out.append(acc)
        return out

    def account(self, k: int) -> BookAccount:
        """Account ``k`` alone, read exactly (a compiled path re-prices a few accounts with the reference)."""
        a, b = self.bounds(k)
        sub = Chunk(self.batch.slice(a, b - a), self.first_row + a, np.zeros(1, np.int64))
        return sub.accounts()[0]


@dataclass(frozen=True)
class PricedRows:
    """The result columns of a chunk's rows (:data:`RESULT_COLUMNS`, text) and the errors of its bad rows."""

    columns: Mapping[str, pa.Array]
    errors: tuple[RowError, ...]


class ChunkEvaluator(Protocol):
    """Prices one chunk of complete accounts. The reference is :class:`DecimalEvaluator`. A compiled path
    takes the chunk's arrays (:func:`margincall.calculator.book_arrays.chunk_arrays`: account index, instrument
    index, side, size, prices, cross flag, leverage, margins, wallet), prices them in floats, rounds each value
    in the venue's favour and re-prices with :meth:`DecimalEvaluator.account` (on :meth:`Chunk.account`) every
    account the arrays could not carry or whose float value lies near a rounding boundary (docs/architecture.md,
    "Whole books")."""

    def __call__(self, chunk: Chunk, *, strict: bool) -> PricedRows: ...


class DecimalEvaluator:
    """The exact reference: each account's scenario through ``evaluate`` (what ``calc --json`` runs)."""

    def __init__(self, instruments: BookInstruments) -> None:
        self.instruments = instruments

    def __call__(self, chunk: Chunk, *, strict: bool) -> PricedRows:
        # With ``strict``, priced_rows stops at the first account (in book order) with a bad row.
        return priced_rows([self.account(a) for a in chunk.accounts()], strict=strict)

    def account(self, acc: BookAccount) -> AccountOutcome:
        if acc.error is not None:
            bad = acc.error
            return AccountOutcome(None, tuple(bad if r == bad.row else _unpriced(acc, r, bad) for r in acc.rows))
        try:
            scenario = acc.scenario(self.instruments)
            result = evaluate(scenario)
        except MarginCallError as exc:
            return AccountOutcome(None, tuple(_account_error(acc, exc)))
        convention = get_venue(scenario.venue).ratio_convention
        return AccountOutcome(tuple(book_values(p, convention) for p in result.positions), None)


#: ``positions[i]`` or ``positions[i].field`` at the head of a scenario's error: the book names the row instead.
_POSITION_PREFIX = re.compile(r"^positions\[\d+\](\.[\w.\[\]]+)?:\s*")


def _unpriced(acc: BookAccount, row: int, bad: RowError) -> RowError:
    return RowError(row, "", f"not priced: row {bad.row} of account {acc.account!r} on {acc.venue} is bad", False)


def _account_error(acc: BookAccount, exc: MarginCallError) -> list[RowError]:
    """The scenario's error on the row it names (``positions[i]``), or on every row of the account."""
    text, where = str(exc), exc.field or ""
    if where.startswith("positions[") and "]" in where:
        i = int(where[len("positions[") : where.index("]")])
        field_name = where[where.index("]") + 1 :].lstrip(".")
        message = _POSITION_PREFIX.sub("", text)
        bad = RowError(acc.rows[i], field_name, message)
        return [bad if n == i else _unpriced(acc, r, bad) for n, r in enumerate(acc.rows)]
    return [RowError(r, where, f"account {acc.account!r} on {acc.venue or 'generic'}: {text}") for r in acc.rows]


def _cell(value: Any) -> Any:
    """A cell as the scenario reads it: text stripped, empty → not given; a float by its shortest text."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, float):
        return repr(value)
    return value


def read_row(row: int, cells: Mapping[str, Any]) -> tuple[PositionIn | None, dict[str, Any], RowError | None]:
    """One row: its position, its account fields, or the first error (naming the field)."""
    pos = {k: v for k in POSITION_COLUMNS if (v := _cell(cells.get(k))) is not None}
    try:
        position = PositionIn.model_validate(pos)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = ".".join(str(p) for p in err["loc"]) or "row"
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ").removeprefix("number: ")
        if err.get("type") == "missing":
            msg = "missing (empty)"
        return None, {}, RowError(row, name, msg)
    fields: dict[str, Any] = {}
    for name in ACCOUNT_COLUMNS:
        value = _cell(cells.get(name))
        if value is None:
            continue
        if name == "formula":
            fields[name] = str(value)
            continue
        try:
            fields[name] = to_decimal(value, name)
        except MarginCallError as exc:
            return position, {}, RowError(row, name, str(exc).removeprefix(f"{name}: "))
    return position, fields, None


def _add_row(acc: BookAccount, row: int, cells: Mapping[str, Any]) -> None:
    position, fields, error = read_row(row, cells)
    acc.rows.append(row)
    acc.positions.append(None if error is not None else position)
    if acc.error is None and error is None:
        for name, value in fields.items():
            had = acc.fields.setdefault(name, value)
            if had != value:
                error = RowError(row, name, f"{value} disagrees with {had} on the earlier rows of account"
                                            f" {acc.account!r} on {acc.venue}")  # fmt: skip
                break
    if acc.error is None and error is not None:
        acc.error = error


@dataclass(frozen=True, slots=True)
class BookChunk:
    """Priced rows: the input rows as read with the result columns after them, and their errors."""

    batch: pa.RecordBatch
    first_row: int
    errors: tuple[RowError, ...]


def check_columns(schema: pa.Schema) -> None:
    """Refuse a book without a required column, or with a scenario field it cannot use."""
    names = set(schema.names)
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise BookError(f"book: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} (columns:"
                        f" {', '.join(schema.names)})", field=missing[0])  # fmt: skip
    for name, why in REFUSED_COLUMNS.items():
        if name in names:
            raise BookError(f"book: column {name}: not used in a book ({why})", code="unused_input", field=name)
    clash = [c for c in RESULT_COLUMNS if c in names]
    if clash:
        raise BookError(f"book: column {clash[0]} is a result column; rename or drop it", field=clash[0])


def _text(value: Decimal | None) -> str | None:
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return "0" if text == "-0" else text


def priced_rows(outcomes: Sequence[AccountOutcome], *, strict: bool) -> PricedRows:
    """The result columns of accounts' outcomes, in row order; ``strict`` raises at the first bad row."""
    columns: dict[str, list[str | None]] = {name: [] for name in RESULT_COLUMNS}
    errors: list[RowError] = []
    for out in outcomes:
        if out.values is not None:
            for values in out.values:
                for name in RESULT_COLUMNS[:-1]:
                    columns[name].append(_text(getattr(values, name)))
                columns["error"].append(None)
            continue
        assert out.errors is not None
        if strict:
            first_bad = next(e for e in out.errors if e.primary)
            raise BookError(f"book {first_bad}", field=first_bad.field or None)
        for e in out.errors:
            for name in RESULT_COLUMNS[:-1]:
                columns[name].append(None)
            columns["error"].append(str(e))
        errors.extend(e for e in out.errors if e.primary)
    return PricedRows({n: pa.array(columns[n], pa.string()) for n in RESULT_COLUMNS}, tuple(errors))


def price_book(
    reader: BookReader,
    evaluator: ChunkEvaluator,
    *,
    strict: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[BookChunk]:
    """Price a book chunk by chunk (an iterator, so a consumer — a file writer, the liquidation map — takes each
    chunk as it comes). An account's rows are held back until its last row is read; an account that appears
    again after another one is a :class:`BookError` (the book must be grouped by account). Chunks are priced on
    a worker thread while the next ones are read (:func:`~margincall.calculator.book_pipeline.in_order`)."""

    def price(piece: tuple[pa.RecordBatch, int, np.ndarray]) -> BookChunk:
        return _price(*piece, evaluator, strict)

    yield from in_order(_pieces(reader, progress), price)


def _pieces(
    reader: BookReader, progress: Callable[[int, int], None] | None
) -> Iterator[tuple[pa.RecordBatch, int, np.ndarray]]:
    """The book's complete accounts, chunk by chunk: rows, first row number, account starts."""
    seen = SeenAccounts()
    held: pa.RecordBatch | None = None  # the rows of the last account of the previous chunk
    held_first = 1
    next_row = 1
    for batch in reader.batches():
        if next_row == 1 and batch.num_rows:
            check_columns(batch.schema)
        if batch.num_rows == 0:
            continue
        batch = _as_text_where_needed(batch)
        next_row += batch.num_rows
        if held is not None:
            try:
                batch = pa.RecordBatch.from_struct_array(
                    pa.concat_arrays([held.to_struct_array(), batch.to_struct_array()])
                )
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise BookError(f"book: row {next_row - batch.num_rows}: columns change type: {exc}") from None
        first = held_first
        starts, keys = account_runs(batch)
        repeat = seen.first_repeat(keys)
        if repeat >= 0:
            row = int(starts[repeat])
            acct, venue = (_cell(batch.column(c)[row].as_py()) for c in ("account", "venue"))
            who = f"account {acct!r} on {venue}"
            raise UngroupedBook(f"book: row {first + row}: {who} appears again after other accounts; an account's"
                                " rows must be contiguous (sort or group the book by account, venue)",
                                field="account")  # fmt: skip
        seen.add(keys[:-1])  # the last account is held back and comes again at the head of the next chunk
        # The last account may go on in the next chunk: hold its rows back.
        cut = int(starts[-1])
        held, held_first = batch.slice(cut), first + cut
        if cut:
            yield batch.slice(0, cut), first, starts[:-1]
        if progress is not None:
            progress(reader.done(), reader.total)
    if held is not None and held.num_rows:
        yield held, held_first, np.zeros(1, dtype=np.int64)
    if next_row == 1 and reader.schema is not None:
        check_columns(reader.schema)  # a book of no rows: its columns are still checked
    if progress is not None:
        progress(reader.total, reader.total)


def _as_text_where_needed(batch: pa.RecordBatch) -> pa.RecordBatch:
    """A JSON-lines block with a column of nulls only reads it as the null type; as text it concatenates with
    the next block's."""
    if not any(pa.types.is_null(t) for t in batch.schema.types):
        return batch
    arrays = [pc.cast(a, pa.string()) if pa.types.is_null(a.type) else a for a in batch.columns]
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _price(
    batch: pa.RecordBatch, first_row: int, starts: np.ndarray, evaluator: ChunkEvaluator, strict: bool
) -> BookChunk:
    priced = evaluator(Chunk(batch, first_row, starts), strict=strict)
    arrays = [*batch.columns, *(priced.columns[n] for n in RESULT_COLUMNS)]
    out = pa.RecordBatch.from_arrays(arrays, names=[*batch.schema.names, *RESULT_COLUMNS])
    return BookChunk(out, first_row, priced.errors)


__all__ = ["RESULT_COLUMNS", "AccountOutcome", "BookAccount", "BookChunk", "BookError", "BookInstruments",
           "BookValues", "Chunk", "ChunkEvaluator", "DecimalEvaluator", "PricedRows", "RowError", "book_values",
           "check_columns", "price_book", "priced_rows", "read_row"]  # fmt: skip
