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
from margincall.venues.batch import PARALLEL_ROWS, BatchInstrument, BatchInstruments, evaluate_book
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


def test_hedged_cross_legs_agree_with_the_calculator() -> None:
    # Two cross legs of BTCUSDT (long 1.5 @ 60,000, short 0.5 @ 61,000) and ETHUSDT long, wallet 3,000: the
    # symbol's LP/BP come from the several-leg solver (allocating, apart from the row loop).
    scenario = {"venue": "binance-usdm", "wallet_balance": "3000", "positions": [
        {"symbol": "BTCUSDT", "side": "long", "size": "1.5", "entry_price": "60000", "mark_price": "59000",
         "margin_mode": "cross", "leverage": "20"},
        {"symbol": "BTCUSDT", "side": "short", "size": "0.5", "entry_price": "61000", "mark_price": "59000",
         "margin_mode": "cross", "leverage": "20"},
        {"symbol": "ETHUSDT", "side": "long", "size": "3", "entry_price": "3000", "mark_price": "3100",
         "margin_mode": "cross", "leverage": "10"}]}
    nan = [math.nan] * 3
    r = evaluate_book(batch_instruments(), [0, 0, 0], [0, 0, 1], [1.0, -1.0, 1.0], [1.5, 0.5, 3.0],
                      [60000.0, 61000.0, 3000.0], [59000.0, 59000.0, 3100.0], [True] * 3, [20.0, 20.0, 10.0], nan,
                      nan, [3000.0] * 3)
    assert not r.error.any()
    for row, expected in enumerate(reference(scenario)):
        for name, e in zip(NAMES, expected, strict=True):
            assert float(getattr(r, name)[row]) == pytest.approx(e, rel=1e-12), (name, row)


def test_a_book_cut_into_thread_blocks_gives_each_account_its_own_numbers() -> None:
    # A book of PARALLEL_ROWS+ rows is evaluated in blocks of whole accounts on numba's threads; each copy of
    # the sample (new account ids) must give exactly the sample's numbers, whichever block it lands in.
    _, sample = random_book(300, 5)
    rows = len(sample["account"])
    reps = PARALLEL_ROWS // rows + 2
    book = {k: np.tile(v, reps) for k, v in sample.items()}
    book["account"] = np.tile(sample["account"], reps) + np.repeat(np.arange(reps) * 300, rows)
    instruments = batch_instruments()
    alone = evaluate_book(instruments, **sample)
    whole = evaluate_book(instruments, **book)
    for name in (*NAMES, "error"):
        np.testing.assert_array_equal(getattr(whole, name), np.tile(getattr(alone, name), reps), err_msg=name)


def test_a_ratio_whose_equity_cancels_keeps_twelve_digits() -> None:
    # Wallet 125,493.39399530 and PnL 44.931·(36,036.94 − 38,829.04) = −125,451.8451: equity 41.5488953, 1/3000
    # of the wallet. The float inputs are their decimals rounded (~1e-16), which the cancellation multiplies by
    # 3000 (the ratio was off by 1.45e-12); recomputed from the inputs' decimals it keeps 1e-12.
    scenario = {"venue": "bybit-linear", "formula": "2026", "wallet_balance": "125493.39399530", "positions": [
        {"symbol": "BTCUSDT", "side": "long", "size": "44.931", "entry_price": "38829.04", "mark_price": "36036.94",
         "margin_mode": "cross", "leverage": "23.7"}]}
    inst = get_venue("bybit-linear").market("BTCUSDT").instrument
    book = BatchInstruments.of([BatchInstrument("bybit-linear", inst, formula="2026")])
    r = evaluate_book(book, [0], [0], [1.0], [44.931], [38829.04], [36036.94], [True], [23.7], [math.nan],
                      [math.nan], [125493.39399530])
    (expected,) = reference(scenario)
    for name, e in zip(NAMES, expected, strict=True):
        assert float(getattr(r, name)[0]) == pytest.approx(e, rel=1e-12, nan_ok=True), name
