"""The compiled evaluator of whole books (`margincall.calculator.book_compiled`): its rows are the reference's
(`DecimalEvaluator`) cell by cell on random mixed books — every venue, isolated and cross, several legs, bad rows —
whatever the chunk size; the accounts it could not settle in floats are counted."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from margincall.calculator.book import BookInstruments, DecimalEvaluator, price_book
from margincall.calculator.book_compiled import CompiledEvaluator
from margincall.calculator.book_io import open_book
from support.books import COLUMNS, INSTRUMENTS, mixed_book


def _rows(path: Path, evaluator: DecimalEvaluator | CompiledEvaluator, chunk: int) -> list[dict[str, object]]:
    return [r for c in price_book(open_book(path, chunk), evaluator) for r in c.batch.to_pylist()]


@pytest.mark.parametrize(("seed", "chunk"), [(1, 13), (2, 64), (3, 1000)])
def test_a_random_mixed_book_gives_the_references_rows_cell_by_cell(tmp_path: Path, seed: int, chunk: int) -> None:
    rows = mixed_book(150, seed=seed)
    rows[5]["size"] = "abc"  # a bad cell: the reference gives its error, on its account's rows
    rows[40]["side"] = "sideways"
    path = tmp_path / "book.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    want = _rows(path, DecimalEvaluator(BookInstruments(INSTRUMENTS)), chunk)
    compiled = CompiledEvaluator(BookInstruments(INSTRUMENTS))
    got = _rows(path, compiled, chunk)
    assert len(got) == len(want) == len(rows)
    for n, (g, w_) in enumerate(zip(got, want, strict=True), start=1):
        assert g == w_, (n, {k: (g[k], w_[k]) for k in g if g[k] != w_[k]})
    assert want[5]["error"] is not None and want[40]["error"] is not None
    assert compiled.accounts == 150
    assert 2 <= compiled.redone <= compiled.accounts  # at least the two bad accounts went to the reference
