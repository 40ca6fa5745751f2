"""Decimal text in and out of a book's columns (`margincall.calculator.book_parse`): a plain decimal cell is read as
its exact mantissa and digits, anything else is refused (not ok), and integers at a scale are written as the text
``format(Decimal.normalize(), "f")`` gives."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from margincall.calculator.book_parse import decimal_texts, parse_decimals


def _reference_text(value: int, scale: int) -> str:
    text = format(Decimal(value).scaleb(-scale).normalize(), "f")
    return "0" if text == "-0" else text


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(10**18), 10**18), min_size=1, max_size=20), st.integers(0, 18))
def test_integers_at_a_scale_are_written_as_the_normalized_decimal(values: list[int], scale: int) -> None:
    assert decimal_texts(np.array(values, np.int64), scale).to_pylist() == [_reference_text(v, scale) for v in values]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.decimals(min_value=0, max_value=10**9, places=8, allow_nan=False), min_size=1, max_size=20))
def test_plain_decimal_cells_are_read_exactly(values: list[Decimal]) -> None:
    texts = [f" {v:f} " for v in values]
    mantissa, digits, ok, empty = parse_decimals(pa.array(texts))
    assert ok.all() and not empty.any()
    assert [Decimal(int(m)).scaleb(-int(d)) for m, d in zip(mantissa, digits, strict=True)] == values
    # no trailing zeros after the point: the digits are the value's own
    assert all(int(d) == max(0, -v.normalize().as_tuple().exponent) for v, d in zip(values, digits, strict=True))


def test_cells_that_are_not_plain_decimals_are_refused_and_empty_ones_flagged() -> None:
    cells = pa.array(["1e3", "-2", "+2", "1.2.3", ".", "abc", "", None, "  ", "1234567890123456789", "0.5"]).slice(0)
    _, _, ok, empty = parse_decimals(cells)
    assert ok.tolist() == [False] * 10 + [True]
    assert empty.tolist() == [False] * 6 + [True, True, True, False, False]
    assert decimal_texts(np.array([5, 7]), 1, np.array([True, False])).to_pylist() == ["0.5", None]
