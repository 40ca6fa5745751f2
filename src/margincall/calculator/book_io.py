"""Reading and writing whole books: CSV, Parquet or JSON lines, chosen by the file's extension, in record batches.

Reading and writing go through pyarrow (``pyarrow.csv``, ``pyarrow.parquet``, ``pyarrow.json``), batch by batch,
so memory stays bounded by the chunk size whatever the file's length. pyarrow reads JSON lines but does not write
them: a JSON-lines output is written a batch at a time with orjson from the batch's rows.

CSV columns are read as text, so a number is taken exactly as written. JSON lines are read a block of whole lines
at a time and every field made text (a field's JSON type may change from block to block; its text does not): a JSON
number is read as the shortest decimal text of the float pyarrow parses it to (``0.1`` is ``0.1``), so a number
with more than 15 significant digits has already lost digits — write such numbers as JSON strings
(``"0.12345678901234567"``). Parquet columns keep their types; a float column is read by its shortest text too.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.csv as pacsv  # type: ignore[import-untyped]
import pyarrow.json as pajson  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from margincall.model.errors import MarginCallError

#: File formats by extension.
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class BookFileError(MarginCallError):
    code = "book_file"


def book_format(path: str | Path, what: str) -> str:
    """``csv``, ``parquet`` or ``jsonl`` from ``path``'s extension; an error naming ``what`` otherwise."""
    suffix = Path(path).suffix.lower()
    try:
        return FORMATS[suffix]
    except KeyError:
        raise BookFileError(
            f"{what}: {Path(path).name} has no known extension (give one of {', '.join(FORMATS)})", field=what
        ) from None


@dataclass
class BookReader:
    """Record batches of a book file, with how far through the file the reader is (for a progress bar)."""

    path: Path
    fmt: str
    chunk_rows: int
    #: total work (bytes for CSV and JSON lines, rows for Parquet) and the unit of :meth:`done`
    total: int = 0
    #: the file's columns, once :meth:`batches` has opened it
    schema: pa.Schema | None = None
    _handle: IO[bytes] | None = None
    _rows: int = 0

    def batches(self) -> Iterator[pa.RecordBatch]:
        try:
            if self.fmt == "parquet":
                pf = pq.ParquetFile(self.path)
                self.total = pf.metadata.num_rows
                self.schema = pf.schema_arrow
                for batch in pf.iter_batches(batch_size=self.chunk_rows):
                    self._rows += batch.num_rows
                    yield batch
                return
            self.total = self.path.stat().st_size
            with self.path.open("rb") as handle:
                self._handle = handle
                if self.fmt == "jsonl":
                    yield from self._jsonl(handle)
                    return
                if self.fmt == "csv":
                    reader: Any = pacsv.open_csv(
                        handle,
                        read_options=pacsv.ReadOptions(block_size=1 << 22),
                        # Every column as text: numbers are read exactly as written, empty cells are empty strings.
                        convert_options=pacsv.ConvertOptions(
                            column_types=dict.fromkeys(_csv_header(self.path), pa.string()), strings_can_be_null=False
                        ),
                    )
                self.schema = reader.schema
                for batch in reader:
                    yield from _split(batch, self.chunk_rows)
        except FileNotFoundError:
            raise BookFileError(f"book: no such file: {self.path}", field="book") from None
        except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, UnicodeDecodeError) as exc:
            raise BookFileError(f"book: cannot read {self.path.name} as {self.fmt}: {exc}", field="book") from None

    def _jsonl(self, handle: IO[bytes]) -> Iterator[pa.RecordBatch]:
        """JSON lines a block of whole lines at a time, each block read by pyarrow and every column made text: a
        column's JSON type may change between blocks (``1`` in one, ``0.5`` in the next), its text does not. The
        columns are those of the first block; a later block may leave some out (empty), not add new ones."""
        names: list[str] | None = None
        row = 1
        while block := handle.read(1 << 22) + handle.readline():
            if not block.strip():
                continue
            table = pajson.read_json(pa.BufferReader(block))
            if names is None:
                names = table.column_names
                self.schema = pa.schema([pa.field(n, pa.string()) for n in names])
            extra = [n for n in table.column_names if n not in names]
            if extra:
                raise BookFileError(f"book: row {row} or after: field {extra[0]} is not in the book's first rows"
                                    f" ({', '.join(names)})", field=extra[0])  # fmt: skip
            arrays = [_as_text(table.column(n)) if n in table.column_names else pa.nulls(table.num_rows, pa.string())
                      for n in names]  # fmt: skip
            row += table.num_rows
            yield from pa.Table.from_arrays(arrays, names=names).to_batches(max_chunksize=self.chunk_rows)

    def done(self) -> int:
        """Work done so far, in the unit of :attr:`total`."""
        if self.fmt == "parquet":
            return self._rows
        try:
            return self._handle.tell() if self._handle is not None and not self._handle.closed else self.total
        except (OSError, ValueError):
            return self.total


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A JSON column as text: a number by its shortest decimal text, a string as it is."""
    return column if pa.types.is_string(column.type) else column.cast(pa.string())


def _csv_header(path: Path) -> list[str]:
    """The CSV's column names (its first line), so that every column can be read as text."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return next(csv.reader(handle), [])


def _split(batch: pa.RecordBatch, rows: int) -> Iterator[pa.RecordBatch]:
    for start in range(0, batch.num_rows, rows):
        yield batch.slice(start, rows)


def open_book(path: str | Path, chunk_rows: int) -> BookReader:
    return BookReader(Path(path), book_format(path, "book"), chunk_rows)


class BookWriter:
    """Writes record batches to ``path`` in the format of its extension. The file appears under its name only
    when :meth:`close` is called with ``ok=True``: a run that stops leaves no half-written book behind."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.fmt = book_format(path, "out")
        self._tmp = self.path.with_name(f".{self.path.name}.part")
        self._writer: Any = None
        self._handle: IO[bytes] | None = None
        # Parquet and CSV batches are encoded on a worker thread (pyarrow releases the GIL) while the next chunk
        # is priced; one batch in flight at most, so memory stays bounded and the order is the book's.
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[None] | None = None

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()  # a write's error is raised here

    def write(self, batch: pa.RecordBatch) -> None:
        if self.fmt == "jsonl":
            if self._handle is None:
                self._handle = self._tmp.open("wb")
            self._handle.write(b"".join(orjson.dumps(row, default=str) + b"\n" for row in batch.to_pylist()))
            return
        if self._writer is None:
            if self.fmt == "parquet":
                # No dictionary pages: the result columns are nearly all distinct values, and snappy catches the
                # repeats of the others — half the writing time, a file no larger.
                self._writer = pq.ParquetWriter(self._tmp, batch.schema, use_dictionary=False)
            else:
                self._writer = pacsv.CSVWriter(self._tmp, batch.schema)
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="book-writer")
        self._wait()
        assert self._pool is not None
        self._pending = self._pool.submit(self._writer.write_batch, batch)

    def close(self, *, ok: bool, schema: pa.Schema | None = None) -> None:
        """Finish the file (``ok``) or remove it; a book of no rows is written as its columns alone (``schema``).
        A write that failed on the worker raises here, and its file is removed."""
        if ok and self._writer is None and self._handle is None and schema is not None:
            self.write(pa.RecordBatch.from_pylist([], schema=schema))
        error: Exception | None = None
        try:
            self._wait()
        except Exception as exc:  # raised below, once the file is closed and removed
            error = exc
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        if self._writer is not None:
            self._writer.close()
        if self._handle is not None:
            self._handle.close()
        if error is not None or not ok:
            self._tmp.unlink(missing_ok=True)
            if error is not None and ok:
                raise error
            return
        if self._writer is None and self._handle is None:
            self._tmp.touch()  # JSON lines of no rows: an empty file
        self._tmp.replace(self.path)


__all__ = ["FORMATS", "BookFileError", "BookReader", "BookWriter", "book_format", "open_book"]
