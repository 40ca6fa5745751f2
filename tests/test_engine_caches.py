"""Derived state the engine keeps for speed is exact: compared against a recomputation from the ledger.

* Statuses cached within one ``process()`` call (dropped when an event names the account, all of them on a
  mark) are shared by the checks, the waterfall and the ADL ranking: every cached status handed out must equal
  :func:`~margincall.risk.status.status` computed at that moment.
* The index screener re-syncs the float rows only of accounts an event changed; a tick's candidates that no
  event changed are only re-banded. After every call the float book (wallets, positions, thresholds) must equal
  the book of a screener rebuilt from the ledger, and its bands must still screen exactly (``audit()`` empty).
* :meth:`Ledger.cross_upnl_mm` is the uPnL and MM of :meth:`Ledger.cross_totals`, to the last digit.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.test_adl_queue import config, run, scenario

from margincall.risk.engine import RiskEngine
from margincall.risk.screener import IndexScreener
from margincall.risk.status import MarginStatus, WatchId, status, watches_for


def _rows(engine: RiskEngine, screener: IndexScreener) -> dict[Any, Any]:
    """The float book of every asset as plain values keyed by names (slot numbers may differ)."""
    led = engine.ledger
    out: dict[Any, Any] = {}
    for asset, ab in screener.books.items():
        book = ab.book
        for acct in led.accounts:
            a = book.account_id(acct)
            out[(asset, acct)] = (float(book.wallet[a]), float(book.k_down[a]), float(book.k_up[a]))
            for slot in book.slots_of(a):
                key = ab.slot_keys[slot]
                out[(asset, key)] = (bool(book.isolated[slot]), float(book.sign[slot]), float(book.qty[slot]),
                                     float(book.entry[slot]), float(book.margin[slot]),
                                     float(book.pos_k_down[slot]), float(book.pos_k_up[slot]))
    return out


@pytest.mark.parametrize("seed", range(8))
def test_cached_statuses_equal_statuses_recomputed(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    setup, path = scenario(seed)
    engine = RiskEngine(config(seed, True))
    original = RiskEngine._cached_status
    handed: list[int] = []

    def checked(self: RiskEngine, watch: WatchId) -> MarginStatus:
        st = original(self, watch)
        assert st == status(self.ledger, watch), watch
        handed.append(1)
        return st

    monkeypatch.setattr(RiskEngine, "_cached_status", checked)
    out = run(engine, setup + path)
    assert handed
    if seed == 0:  # not vacuous: the scenario liquidates
        assert any(ev[0] == "liquidation" for evs in out if isinstance(evs, list) for ev in evs)


@pytest.mark.parametrize("seed", range(8))
def test_the_float_book_equals_a_rebuilt_one_after_every_call(seed: int) -> None:
    setup, path = scenario(seed)
    engine = RiskEngine(config(seed, True))
    run(engine, setup)
    screener = engine.screener
    assert isinstance(screener, IndexScreener)
    for event in path:
        run(engine, [event])
        fresh = IndexScreener()
        fresh.restore(engine)
        assert not screener.dirty and not screener.reband
        assert _rows(engine, screener) == _rows(engine, fresh), event
        assert engine.audit() == []


def test_cross_upnl_mm_equals_cross_totals() -> None:
    setup, path = scenario(3)
    engine = RiskEngine(config(3, True))
    run(engine, setup + path[:40])
    led = engine.ledger
    seen = 0
    for key in list(led.positions):
        watch = watches_for(led, key)
        if watch.scope != "cross":
            continue
        st = status(led, watch)
        upnl, _im, mm = led.cross_totals(watch.account, watch.what)
        assert (st.equity, st.maintenance_margin) == (led.wallet(watch.account, watch.what) + upnl, mm)
        assert st.positions == tuple(p for p in led.positions_of(watch.account) if not p.is_isolated)
        seen += 1
    assert seen
