"""Derived state the engine keeps for speed is exact: compared against a recomputation from the ledger.

* Statuses cached within one ``process()`` call (dropped when an event names the account, all of them on a
  mark) are shared by the checks, the waterfall and the ADL ranking: every cached status handed out must equal
  :func:`~margincall.risk.status.status` computed at that moment.
* The index screener rewrites a position's float row only when its ledger position (an immutable object) or
  isolated margin changed since the row was written, and re-bands the accounts of a flush in one index call.
  After every call the float book (wallets, positions, thresholds) must equal the book of a screener rebuilt
  from the ledger, and its bands must still screen exactly (``audit()`` empty).
* The ADL walk passes whole blocks of the ranking out of profit at the bankruptcy price: the same events as
  visiting every entry.
* :meth:`Ledger.cross_upnl_mm` is the uPnL and MM of :meth:`Ledger.cross_totals`, to the last digit, and the
  per-position terms it keeps (:meth:`Ledger.position_terms`) those of ``position_upnl`` / ``position_mm``.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from margincall.risk import adl_walk as walk_module
from margincall.risk.adl_walk import AdlWalk
from margincall.risk.engine import EngineConfig, RiskEngine
from margincall.risk.screening.screener import IndexScreener
from margincall.risk.status import MarginStatus, WatchId, status, watches_for
from support.adl_scenarios import TIERS, Event, config, run, scenario


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
        assert not screener.dirty
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
        pos = led.positions[key]
        price = led.price_for(key.symbol, pos.entry_price)
        # the memoised terms (positions, marks and markets unchanged: the same objects) equal recomputation
        assert led.position_terms(pos) == (led.position_upnl(pos, price), led.position_mm(pos, price))
        if watch.scope != "cross":
            st = status(led, watch)
            assert st.equity == led.isolated_margin(key) + led.position_upnl(pos, price)
            continue
        st = status(led, watch)
        upnl, _im, mm = led.cross_totals(watch.account, watch.what)
        assert (st.equity, st.maintenance_margin) == (led.wallet(watch.account, watch.what) + upnl, mm)
        assert st.positions == tuple(p for p in led.positions_of(watch.account) if not p.is_isolated)
        seen += 1
    assert seen


@pytest.mark.parametrize("seed", range(12))
def test_the_adl_walk_passing_whole_blocks_emits_the_events_of_the_entry_by_entry_walk(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # blocks of the ranking out of profit at the bankruptcy price are passed at once: the same events (ranks
    # included) as visiting every entry; small blocks so that the scenarios' short rankings have several
    setup, path = scenario(seed)
    monkeypatch.setattr(walk_module, "BLOCK", 2)
    skipped: list[bool] = []

    class Keys(frozenset):  # type: ignore[type-arg]
        def __le__(self, other: Any) -> bool:  # asked only when the block is out of profit
            held = bool(frozenset(self) <= other)
            skipped.append(held)
            return held

    original = AdlWalk.blocks

    def spy(self: AdlWalk, symbol: str, sign: int, ranked: list[Any], call: int) -> list[Any]:
        return [(a, b, Keys(k), e) for a, b, k, e in original(self, symbol, sign, ranked, call)]

    monkeypatch.setattr(AdlWalk, "blocks", spy)
    fast = run(RiskEngine(config(seed, True)), setup + path)
    monkeypatch.setattr(AdlWalk, "blocks", lambda self, symbol, sign, ranked, call: [(0, len(ranked), None, None)])
    slow = run(RiskEngine(config(seed, True)), setup + path)
    assert fast == slow
    passed.extend(skipped)


passed: list[bool] = []


def test_the_block_walk_is_not_vacuous() -> None:
    # runs after the comparisons above: blocks were passed
    assert any(passed)


def _crash_book(seed: int) -> list[Event]:
    """Accounts long and short in two symbols at entries spread around 100 (so many shorts are in profit at the
    crashed mark but not at the bankruptcy prices of the longs), a small fund, then both marks −25 %."""
    rng = random.Random(seed)
    inputs: list[Event] = []
    for sym in ("AUSDT", "BUSDT"):
        inputs.append(("market_listed", {"venue": "binance-usdm", "symbol": sym, "tiers": TIERS,
                                         "lot_size": "0.001", "liquidation_fee": "0.005"}, 1))
        inputs.append(("mark", {"symbol": sym, "price": "100"}, 1))
    inputs.append(("insurance_fund_deposit", {"asset": "USDT", "amount": "10"}, 1))
    for i in range(160):
        acct = f"a{i}"
        inputs += [("account_opened", {"account": acct}, 1),
                   ("deposit", {"account": acct, "asset": "USDT", "amount": str(rng.randint(200, 2000))}, 1),
                   ("leverage_set", {"account": acct, "symbol": "AUSDT", "leverage": "20",
                                     "margin_mode": rng.choice(["cross", "isolated"])}, 1)]
        for sym in ("AUSDT", "BUSDT"):
            price = str(rng.randint(80, 120))
            inputs += [("mark", {"symbol": sym, "price": price}, 1),
                       ("fill", {"account": acct, "symbol": sym, "side": rng.choice(["buy", "buy", "sell"]),
                                 "size": str(rng.randint(1, 40)), "price": price}, 1)]
    inputs += [("mark", {"symbol": "AUSDT", "price": "100"}, 2), ("mark", {"symbol": "BUSDT", "price": "100"}, 2),
               ("mark", {"symbol": "AUSDT", "price": "75"}, 3), ("mark", {"symbol": "BUSDT", "price": "75"}, 3)]
    inputs += [("mark", {"symbol": "AUSDT", "price": "75"}, 4)] * 5
    return inputs


@pytest.mark.parametrize("seed", range(3))
def test_the_block_walk_on_a_crash_with_many_shorts_in_profit_at_the_mark_only(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = _crash_book(seed)
    cfg = EngineConfig(max_steps_per_tick=60)
    fast = run(RiskEngine(cfg), inputs)
    monkeypatch.setattr(AdlWalk, "blocks", lambda self, symbol, sign, ranked, call: [(0, len(ranked), None, None)])
    slow = run(RiskEngine(cfg), inputs)
    assert fast == slow
    assert sum(ev[0] == "adl" for evs in fast if isinstance(evs, list) for ev in evs) > 20
