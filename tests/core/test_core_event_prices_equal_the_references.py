"""The prices a liquidation event carries, through the core (``core.prices``), equal the reference's to the last
digit and as written: the market executor's fill (``math.liquidation.market_fill_price``: random slippage and
impact, the move capped at one half) and an isolated position's bankruptcy price (``bankruptcy_prices_sharing_
equity_pro_rata_to_notional`` with one leg, the equity at its mark: positive, zero or a deficit, and past zero,
where the reference puts the price at mark / 1000), for every marked isolated position of a random book."""

from __future__ import annotations

import os
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from margincall.core.loader import load
from margincall.core.prices import as_prices, bankruptcy_prices, executor_fills
from margincall.core.ranges import CoreRangeError
from margincall.math.contracts import notional_of
from margincall.math.liquidation import (
    ClosingLeg,
    bankruptcy_prices_sharing_equity_pro_rata_to_notional,
    market_fill_price,
)
from margincall.risk.status import WatchId, status
from support.core_books import ledger_of, snapshots

EXAMPLES = int(os.environ.get("CORE_DIFF_EXAMPLES", "1000")) // 2
SLIPPAGE = st.sampled_from(["0", "0.001", "0.002", "0.0137", "0.3", "0.6", "0.123456789012345678"])
IMPACT = st.sampled_from(["0", "0.0005", "0.01", "1", "50"])


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snap=snapshots(), slippage=SLIPPAGE, impact=IMPACT)
def test_fills_and_bankruptcy_prices_are_the_references(snap, slippage, impact) -> None:  # type: ignore[no-untyped-def]
    led = ledger_of(snap)
    keys = sorted(k for k, p in led.positions.items() if p.is_isolated and k.symbol in snap["marks"])
    assume(keys)
    core = load(led)
    index = {(core.accounts[int(core.positions.account[r])], core.markets.symbols[int(core.positions.market[r])],
              int(core.positions.side[r])): r for r in range(len(core.positions.size))}
    sides = {"both": 0, "long": 1, "short": 2}
    rows = np.array([index[(k.account, k.symbol, sides[k.position_side.value])] for k in keys], np.int64)
    fills = as_prices(executor_fills(core, rows, Decimal(slippage), Decimal(impact)))
    equities = [status(led, WatchId.isolated(k)).equity for k in keys]
    bankrupt = as_prices(bankruptcy_prices(core, rows, np.array([int(e.scaleb(8)) for e in equities], np.int64)))
    for key, fill, bp, equity in zip(keys, fills, bankrupt, equities, strict=True):
        pos = led.positions[key]
        inst = led.markets[key.symbol].instrument
        mark = led.price_for(key.symbol)
        qty = abs(pos.size) * inst.contract_size
        want_fill = market_fill_price(pos.sign, mark, notional_of(inst.kind, qty, mark), Decimal(slippage),
                                      Decimal(impact))
        assert str(fill) == str(want_fill), key
        [want_bp] = bankruptcy_prices_sharing_equity_pro_rata_to_notional([ClosingLeg(inst.kind, pos.sign, qty, mark)],
                                                                           equity)
        assert str(bp) == str(want_bp), key
        event("past zero" if want_bp == (mark / 1000).quantize(Decimal("1e-10")) else
              "deficit" if equity < 0 else "equity above zero" if equity > 0 else "equity zero")
        event("move capped" if fill in (mark / 2, mark * Decimal("1.5")) else "move below the cap")


def test_a_hand_computed_fill_and_bankruptcy_price() -> None:
    """BTCUSDT long 0.5 from 60,000, mark 54,000, 3,000 USDT isolated: notional 27,000, equity 3,000 −
    0.5 × 6,000 = 0. Fill with slippage 0.001 and impact 0.0005 per million: move = 0.001 + 0.0005 × 27,000 /
    10^6 = 0.0010135, fill = 54,000 × 0.9989865 = 53,945.271. Bankruptcy price with equity 0: the mark, 54,000;
    with equity 100: 54,000 − 100 / 0.5 = 53,800; with −3,000: 60,000."""
    snap = {"unit": "1e-8", "markets": {"BTCUSDT": {"venue": "binance-usdm", "symbol": "BTCUSDT"}},
            "marks": {"BTCUSDT": "54000"}, "accounts": {"a": False},
            "balances": [["isolated:a:BTCUSDT:both", "USDT", "3000"]],
            "positions": [["a", "BTCUSDT", "both", "0.5", "60000", "isolated", "10"]], "reserved": [],
            "leverage": [], "modes": [], "liquidating": [], "deposits": {}, "withdrawals": {}, "events_applied": 0,
            "last_ts": 0}
    core = load(ledger_of(snap))
    rows = np.array([0], np.int64)
    assert list(executor_fills(core, rows, Decimal("0.001"), Decimal("0.0005"))) == [539452710000000]
    assert as_prices(bankruptcy_prices(core, rows, np.array([0], np.int64))) == [Decimal(54000)]
    assert as_prices(bankruptcy_prices(core, rows, np.array([100 * 10**8], np.int64))) == [Decimal(53800)]
    assert as_prices(bankruptcy_prices(core, rows, np.array([-3000 * 10**8], np.int64))) == [Decimal(60000)]
    # a tie at the 10th decimal: 0.064 BTC with equity 1e-8: 54,000 − 1e-8 / 0.064 = 53,999.99999984375 → half to
    # even at 1e-10 → 53,999.9999998438
    snap["positions"] = [["a", "BTCUSDT", "both", "0.064", "60000", "isolated", "10"]]
    assert list(bankruptcy_prices(load(ledger_of(snap)), rows, np.array([1], np.int64))) == [539999999998438]
    with pytest.raises(CoreRangeError, match="18 digits"):
        executor_fills(core, rows, Decimal("0.001"), Decimal("0.00001"))
