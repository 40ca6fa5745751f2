"""Positions up to the edge of the core's range (gross notional up to 2^61 money units, 2.3e10 USDT at 1e-8): the
core's exact equity, MM, liquidatable flag and band equal the Decimal reference's (which, trapped on ``Inexact``,
is shown to compute them exactly), and a position past the range is refused, never wrapped."""

from __future__ import annotations

from decimal import Decimal as D
from decimal import Inexact, localcontext

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from margincall.core.loader import load
from margincall.core.ranges import CoreRangeError
from margincall.core.tick import BANDS, statuses
from margincall.ledger import Ledger, PositionKey
from margincall.model.enums import PositionSide
from margincall.risk.margin_call import Band, BandConfig
from margincall.risk.status import WatchId, status

STEEP = {"venue": "generic", "symbol": "BIG", "kind": "linear", "contract_size": "1", "tick_size": "0.01",
         "lot_size": "0.001", "settle_asset": "USDT",
         "tiers": [{"floor": "0", "cap": "1000000", "mmr": "0.004", "max_leverage": "125"},
                   {"floor": "1000000", "cap": "100000000", "mmr": "0.05", "max_leverage": "10"},
                   {"floor": "100000000", "cap": None, "mmr": "0.5", "max_leverage": "1"}]}
LIMIT = 1 << 61


@settings(max_examples=300, deadline=None)
@given(lots=st.integers(1, 10**10), entry=st.integers(1, 2 * 10**9), mark=st.integers(1, 2 * 10**9),
       short=st.booleans(), margin=st.integers(1, 2**61), current=st.integers(0, 3))
def test_a_large_isolated_position_equals_the_reference(lots: int, entry: int, mark: int, short: bool, margin: int,
                                                         current: int) -> None:
    size = D(lots * (-1 if short else 1)).scaleb(-3)
    led = Ledger.from_snapshot({
        "unit": "1e-8", "markets": {"BIG": STEEP}, "marks": {"BIG": str(D(mark).scaleb(-5))},
        "accounts": {"a": False},
        "balances": [["isolated:a:BIG:both", "USDT", str(D(margin).scaleb(-8))]],
        "positions": [["a", "BIG", "both", str(size), str(D(entry).scaleb(-5)), "isolated", "1"]],
        "leverage": [], "modes": [], "reserved": [], "liquidating": [], "deposits": {}, "withdrawals": {},
        "events_applied": 0, "last_ts": 0})
    core = load(led)
    gross = margin + lots * max(entry, mark)  # units: 0.001 × price at 1e-5 = 1e-8
    assume(abs(gross - LIMIT) > 10**16)  # the pass also counts the tier's deduction (≤ 4.5e15 units here)
    if gross > LIMIT:
        with pytest.raises(CoreRangeError, match="gross notional"):
            statuses(core, np.array([0], np.int64))
        return
    s = statuses(core, np.array([0], np.int64), np.array([current], np.int8))
    with localcontext() as ctx:
        ctx.traps[Inexact] = True
        ref = status(led, WatchId.isolated(PositionKey("a", "BIG", PositionSide.BOTH)))
        band = BandConfig().next_band(Band(current), ref.maintenance_margin, ref.equity)
    assert s.equity_decimal(0) == ref.equity
    assert s.mm_decimal(0) == ref.maintenance_margin
    assert bool(s.liquidatable[0]) == ref.liquidatable
    assert BANDS[s.band[0]] == band.label
