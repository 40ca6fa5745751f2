"""Pricing a book's chunks on a worker thread while the next ones are read.

Reading a chunk (pyarrow's CSV parser, the account runs) and pricing one (numpy, pyarrow compute, the numba
kernels) both spend much of their time outside the GIL, so on two cores they overlap: :func:`in_order` runs
``work`` on each item of ``items`` on ``workers`` threads and yields the results in the items' order, with at
most ``workers + 1`` items handed over and not yet yielded — memory stays bounded to a few chunks. ``work`` must
be safe to run on two items at once (:class:`~margincall.calculator.book_compiled.CompiledEvaluator` is).

The order of outcomes is the sequential loop's: an error raised while producing an item comes after every
result (and every error) of the items before it; an error of ``work`` comes when its item's turn comes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Pricing threads: the machine's two cores.
WORKERS = 2


def in_order(items: Iterator[T], work: Callable[[T], R], workers: int = WORKERS) -> Iterator[R]:
    """``work(item)`` for each item, in order, computed on worker threads (see the module docstring)."""
    pending: deque[Future[R]] = deque()
    in_flight = workers + 1
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="book-pricer") as pool:
        try:
            while True:
                try:
                    item = next(items)
                except StopIteration:
                    break
                except BaseException:
                    # The items before the bad one come first, as the sequential loop gives them.
                    while pending:
                        yield pending.popleft().result()
                    raise
                pending.append(pool.submit(work, item))
                while len(pending) >= in_flight or (pending and pending[0].done()):
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:  # the consumer stopped early or a result raised: drop what is queued
                future.cancel()


__all__ = ["WORKERS", "in_order"]
