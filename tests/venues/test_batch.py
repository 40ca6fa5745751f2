"""The compiled batch path (``margincall.venues.batch.evaluate_book``) gives the calculator's numbers.

Differential: random books over every venue profile and formula form (Bybit's fee forms and classic inverse cross
included), linear and inverse, bracket / contracts-keyed whole-position / Hyperliquid / dYdX / whole-position
notional tables, isolated and cross accounts of several legs, against the calculator's evaluation of each
account's scenario (:mod:`support.random_book`). Values agree to 1e-12 relative; "none" in exactly the same rows.
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from margincall.model.errors import MarginCallError
from margincall.venues.batch import BatchInstrument, BatchInstruments, evaluate_book
from margincall.venues.profiles import get_venue
from support.random_book import batch_instruments, random_book, reference

NAMES = ("liquidation_price", "bankruptcy_price", "initial_margin", "maintenance_margin", "margin_ratio")


@pytest.mark.parametrize("seed", [11, 12])
def test_batch_agrees_with_the_calculator_on_random_books(seed: int) -> None:
    scenarios, arrays = random_book(1200, seed)
    result = evaluate_book(batch_instruments(), **arrays)
    assert not result.error.any()
    row = 0
    for scenario in scenarios:
        for expected in reference(scenario):
            for name, e in zip(NAMES, expected, strict=True):
                got = float(getattr(result, name)[row])
                assert math.isnan(e) == math.isnan(got), (name, row, scenario, e, got)
                if not math.isnan(e):
                    assert abs(got - e) <= 1e-12 * abs(e), (name, row, scenario, e, got)
            row += 1
    assert row == len(arrays["account"])


def test_binance_isolated_by_hand() -> None:
    # 1 BTC long at 50,000, 10x, tier 1 (MMR 0.4 %, cum 0): margin 5,000;
    # LP = (5,000 − 50,000) / (0.004 − 1) = 45,180.7228915…; BP = 50,000 − 5,000 = 45,000;
    # at the mark 51,000 the notional is in tier 2 (floor 50,000, MMR 0.5 %, cum 50): MM = 255 − 50 = 205;
    # ratio = 205 / (5,000 + 1,000).
    inst = get_venue("binance-usdm").market("BTCUSDT").instrument
    book = BatchInstruments.of([BatchInstrument("binance-usdm", inst)])
    r = evaluate_book(book, [0], [0], [1.0], [1.0], [50000.0], [51000.0], [False], [10.0], [math.nan], [math.nan],
                      [math.nan])
    assert r.liquidation_price[0] == pytest.approx(45000 / 0.996, rel=1e-15)
    assert r.bankruptcy_price[0] == 45000.0
    assert r.initial_margin[0] == 5100.0 and r.maintenance_margin[0] == pytest.approx(205.0, rel=1e-15)
    assert r.margin_ratio[0] == pytest.approx(205 / 6000, rel=1e-15)


def test_bad_rows_are_refused_by_field() -> None:
    inst = get_venue("binance-usdm").market("BTCUSDT").instrument
    book = BatchInstruments.of([BatchInstrument("binance-usdm", inst)])
    nan = [math.nan] * 3
    args = ([0, 1, 0], [0, 0, 0], [1.0, 1.0, 1.0], [1.0, -1.0, 1.0], [50000.0] * 3, [50000.0] * 3, [False] * 3,
            [10.0, 10.0, 500.0], nan, nan, nan)
    r = evaluate_book(book, *args)
    # row 1: negative size; rows 0 and 2: account 0 is not contiguous (account 1 between them)
    assert r.error_text(int(r.error[1])) == ("size", "must be positive")
    assert np.isnan(r.liquidation_price[1])
    assert r.error_text(int(r.error[2]))[0] == "account"
    with pytest.raises(MarginCallError, match="row 1: size"):
        evaluate_book(book, *args, strict=True)


def test_a_taker_fee_no_form_uses_is_refused() -> None:
    inst = get_venue("binance-usdm").market("BTCUSDT").instrument
    with pytest.raises(MarginCallError, match="taker_fee"):
        BatchInstruments.of([BatchInstrument("binance-usdm", inst, taker_fee=Decimal("0.0005"))])
