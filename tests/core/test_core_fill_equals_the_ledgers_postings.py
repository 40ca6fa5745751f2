"""A fill through the core gives the integers of the postings the ledger makes for it (``Ledger.apply("fill")``,
the reference ``Trading.trade``): fee, realized PnL, isolated margin released and locked, and the position after.

Random books (support.core_books) and a random fill the ledger accepts: an open, a reduction, a close, a flip, an
increase at the entry price; in one-way and hedge mode, cross and isolated, maker and taker. An increase at another
price averages the entry, which the core refuses (its averaged entry is not representable) — the test checks that
it refuses exactly then.
"""

from __future__ import annotations

import contextlib
import os
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from margincall.core.fills import fill
from margincall.core.loader import load
from margincall.core.ranges import CoreRangeError
from margincall.ledger import Rejected
from support.core_books import SPECS, ledger_of, moves, snapshots

EXAMPLES = int(os.environ.get("CORE_DIFF_EXAMPLES", "1000")) // 2


def _units(x: str | None) -> int:
    return 0 if x is None else int(Decimal(x).scaleb(8))


def _digits(x: Decimal) -> int:
    return max(0, -int(x.normalize().as_tuple().exponent))


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(snap=snapshots(), data=st.data())
def test_a_fill_gives_the_ledgers_integers(snap, data) -> None:  # type: ignore[no-untyped-def]
    led = ledger_of(snap)
    acct = data.draw(st.sampled_from(sorted(led.accounts)))
    if data.draw(st.booleans()):  # most fills need more margin than a random book leaves free
        for asset in ("USDT", "USDC"):
            led.apply("deposit", {"account": acct, "asset": asset, "amount": "100000000"}, 0)
    held = [k for k in led.positions if k.account == acct]
    symbol = data.draw(st.one_of(st.sampled_from(sorted(SPECS)), st.sampled_from(sorted(k.symbol for k in held))))
    if data.draw(st.booleans()):  # the account's settings for what opens (refused when a position is open)
        mode = data.draw(st.sampled_from(["cross", "isolated"]))
        lev = data.draw(st.sampled_from(["3", "7", "12.5"]))
        with contextlib.suppress(Rejected):
            led.apply("leverage_set", {"account": acct, "symbol": symbol, "leverage": lev, "margin_mode": mode}, 0)
    core = load(led)
    hedge = led.accounts[acct]
    leg = data.draw(st.sampled_from(["long", "short"])) if hedge else "both"
    pos = led.positions.get(next((k for k in held if k.symbol == symbol and k.position_side.value == leg),
                                 None))  # type: ignore[arg-type]
    lot = SPECS[symbol].instrument.lot_size
    cur_lots = 0 if pos is None else int(abs(pos.size) / lot)
    lots = data.draw(st.one_of(st.integers(1, 1000), st.sampled_from([max(cur_lots, 1), max(cur_lots // 3, 1),
                                                                        cur_lots + 7])))
    side = data.draw(st.sampled_from(["buy", "sell"]))
    at_entry = pos is not None and data.draw(st.booleans())
    price = pos.entry_price if at_entry else data.draw(moves(symbol))  # type: ignore[union-attr]
    liquidity = data.draw(st.sampled_from(["maker", "taker"]))
    payload = {"account": acct, "symbol": symbol, "side": side, "size": str(lot * lots), "price": str(price),
               "liquidity": liquidity}
    if hedge:
        payload["position_side"] = leg
    try:
        res = led.apply("fill", payload, 1)
    except Rejected:
        assume(False)
        return
    d = res.details
    after = led.positions.get(next((k for k in led.positions if k.account == acct and k.symbol == symbol
                                    and k.position_side.value == leg), None))  # type: ignore[arg-type]
    averaged = (pos is not None and after is not None and pos.size * after.size > 0
                and abs(after.size) > abs(pos.size) and after.entry_price != pos.entry_price)
    if averaged:
        event("averaged: refused")
        with pytest.raises(CoreRangeError, match="averages its entry"):
            fill(core, acct, symbol, side, lot * lots, price, liquidity, leg)
        return
    got = fill(core, acct, symbol, side, lot * lots, price, liquidity, leg)
    assert got.fee == _units(d["fee"])
    assert got.realized == _units(d["realized_pnl"])
    assert got.released == _units(d.get("margin_released"))
    assert got.locked == _units(d.get("margin_locked"))
    inst = SPECS[symbol].instrument
    sd = _digits(lot)
    assert Decimal(got.size).scaleb(-sd) == Decimal(d["position_size"])
    event("closed" if after is None else "open after")
    event("released" if got.released else "nothing released")
    event("locked" if got.locked else "nothing locked")
    if after is not None:
        pd = 8 - sd - _digits(inst.contract_size)
        assert Decimal(got.entry).scaleb(-pd) == after.entry_price
        assert got.isolated == after.is_isolated
        assert Decimal(got.leverage).scaleb(-8) == after.leverage
