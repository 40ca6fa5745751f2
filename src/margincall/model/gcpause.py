"""Holding the cyclic garbage collector for a batch of work (shared by the journal and the risk engine)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Hold the cyclic garbage collector for a batch: a batch allocates many short-lived containers and no
    cycles (the ledger's values are trees), so collections in the middle of it are pure overhead; the collector
    runs again, with its usual thresholds, as soon as the batch is done. Reference counting frees memory as
    usual throughout. Nested batches hold it once (the outermost one re-enables it)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
