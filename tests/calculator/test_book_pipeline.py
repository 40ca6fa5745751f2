"""The pricing pipeline keeps the book's order, its errors' order and a bounded number of chunks in flight."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from margincall.calculator.book_pipeline import in_order


def _slow_square(x: int) -> int:
    # later items finish first: only the pipeline's ordering can put them back in order
    time.sleep(0.002 * (5 - x % 5))
    return x * x


def test_results_come_in_the_items_order() -> None:
    assert list(in_order(iter(range(20)), _slow_square)) == [x * x for x in range(20)]


def test_an_error_reading_comes_after_the_results_before_it() -> None:
    def items() -> Iterator[int]:
        yield from (1, 2, 3)
        raise ValueError("row 4: bad")

    got: list[int] = []
    with pytest.raises(ValueError, match="row 4"):
        for r in in_order(items(), _slow_square):
            got.append(r)
    assert got == [1, 4, 9]  # every item before the bad one, priced


def test_an_error_pricing_comes_at_its_items_turn() -> None:
    def work(x: int) -> int:
        if x == 2:
            raise KeyError("chunk 2")
        return _slow_square(x)

    got: list[int] = []
    with pytest.raises(KeyError, match="chunk 2"):
        for r in in_order(iter(range(6)), work):
            got.append(r)
    assert got == [0, 1]  # chunk 3 may be priced already, but it never comes before chunk 2's error


def test_at_most_workers_plus_one_items_are_read_ahead() -> None:
    read = 0
    ahead: list[int] = []

    def items() -> Iterator[int]:
        nonlocal read
        for x in range(30):
            read += 1
            yield x

    for taken, _ in enumerate(in_order(items(), _slow_square, workers=2), start=1):
        ahead.append(read - taken)
    assert max(ahead) <= 2  # one being priced on each of the 2 workers besides the one taken
