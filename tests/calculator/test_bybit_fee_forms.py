"""Bybit's formula forms that carry the taker fee (docs/venues.md §4.2–4.4), through `margincall calc --json -`.

No venue page publishes a numeric example for these forms; each expected value is computed by hand from the
published formula (the arithmetic is in the comment) and, where it applies, checked against the equation the
formula solves, written out independently of the code.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from margincall.calculator import calculate
from margincall.math.bybit import bybit_inverse_cross_classic
from margincall.model.errors import MarginCallError

FEE = "0.00055"  # Bybit's published taker rate for the examples below


def _linear(side: str, extra: str, formula: str | None = "2026", fee: str | None = FEE) -> dict:
    scenario: dict = {
        "venue": "bybit-linear",
        "instruments": {"BTCUSDT": {"mmr": "0.005", "maintenance_amount": "0", "tick_size": "0.5"}},
        "positions": [
            {"symbol": "BTCUSDT", "side": side, "size": "1", "entry_price": "20000", "leverage": "50",
             "margin_mode": "isolated", "extra_margin": extra}
        ],
    }  # fmt: skip
    if formula is not None:
        scenario["formula"] = formula
    if fee is not None:
        scenario["taker_fee"] = fee
    return scenario


def _inverse(side: str, mode: str, size: str, entry: str, **extra: str) -> dict:
    position = {"symbol": "BTCUSD", "side": side, "size": size, "entry_price": entry, "leverage": "10",
                "margin_mode": mode}  # fmt: skip
    return {
        "venue": "bybit-inverse",
        "instruments": {
            "BTCUSD": {"kind": "inverse", "contract_size": "1", "tick_size": "0.5", "mmr": "0.005",
                       "maintenance_amount": "0"}
        },
        "positions": [{**position, **extra}],
    }  # fmt: skip


def test_uta_linear_isolated_long_with_extra_margin_and_fee(both):
    # §4.2 UTA: LP_long = [EP·Q − EP·Q/L − Extra/(1 − fee) − MMD] / [Q − Q·MMR]
    # 1 BTC @ 20,000, 50x, MMR 0.5 %, extra 1,000, fee 0.055 %: 1,000 / 0.99945 = 1,000.550302666…;
    # [20,000 − 400 − 1,000.550302666…] / 0.995 = 18,599.449697333… / 0.995 = 18,692.914268676… → 18,693.0
    # (a long rounds up to the 0.5 tick). MM adds the fee to close: 100 + 20,000 × (1 − 1/50) × 0.055 % = 110.78.
    (res,) = both(_linear("long", "1000"))
    p = res["positions"][0]
    assert abs(D(p["liquidation_price_unrounded"]) - D("18692.914268676918")) < D("1e-12")
    assert D(p["liquidation_price"]) == D("18693.0")
    assert D(p["maintenance_margin"]) == D("110.78")
    assert D(p["bankruptcy_price"]) == 18600  # margin 400 + 1,000 used up: 20,000 − 1,400


def test_uta_linear_isolated_short_with_v9_margin_and_fee(both):
    # §4.2 UTA: LP_short = [EP·Q + EP·Q/L + Extra/(1 + fee) + MMD] / [Q + Q·MMR]
    # V9's short (1 BTC @ 20,000, 50x, extra 3,000) with fee 0.055 %: 3,000 / 1.00055 = 2,998.350907001…;
    # [20,000 + 400 + 2,998.350907…] / 1.005 = 23,281.941200996… → 23,281.5 (a short rounds down).
    # MM = 100 + 20,000 × (1 + 1/50) × 0.055 % = 100 + 11.22 = 111.22.
    (res,) = both(_linear("short", "3000"))
    p = res["positions"][0]
    assert abs(D(p["liquidation_price_unrounded"]) - D("23281.941200996168")) < D("1e-12")
    assert D(p["liquidation_price"]) == D("23281.5")
    assert D(p["maintenance_margin"]) == D("111.22")


def test_uta_linear_is_the_default_form_and_takes_the_fee_without_naming_it(both):
    # A scenario that gives taker_fee but no formula is priced by the default (current, 2026 UTA) form: the
    # same numbers as naming it.
    (named,) = both(_linear("long", "1000"))
    (default,) = both(_linear("long", "1000", formula=None))
    assert default == named


def test_uta_inverse_isolated_long_and_short_with_fee(both):
    # §4.3 2026: LP_long = Q·(MMR + 1) / [Q/EP + Q/EP/L + Extra/(1 + fee) + MMD]
    #            LP_short = Q·(1 − MMR) / [Q/EP − Q/EP/L − Extra/(1 − fee) − MMD]
    # 10,000 USD @ 50,000 (0.2 BTC), 10x, MMR 0.5 %, extra 0.01 BTC, fee 0.055 %:
    # long:  10,050 / [0.2 + 0.02 + 0.01/1.00055 (= 0.009994503…)] = 10,050 / 0.229994503… = 43,696.696520526…
    # short:  9,950 / [0.2 − 0.02 − 0.01/0.99945 (= 0.010005503…)] =  9,950 / 0.169994497… = 58,531.306466707…
    expected = {"long": D("43696.696520526158"), "short": D("58531.306466707082")}
    for side, lp in expected.items():
        scenario = _inverse(side, "isolated", "10000", "50000", extra_margin="0.01")
        (res,) = both({**scenario, "formula": "2026", "taker_fee": FEE})
        assert abs(D(res["positions"][0]["liquidation_price_unrounded"]) - lp) < D("1e-10"), side


def _classic_check(side: str, lp: D) -> None:
    # The equations of Bybit's classic inverse cross rule, written out again here: at BP the loss uses up the
    # available balance less the fee to close at BP; at LP it uses up that less MM at entry value too.
    q, ep, wallet, fee, mm = D(10000), D(10000), D("0.1"), D("0.00075"), D(1) * D("0.005")
    sign = 1 if side == "long" else -1
    bp = (1 + sign * fee) * q / (q / ep + sign * wallet)

    def loss(p: D) -> D:
        return sign * q * (1 / p - 1 / ep)

    assert abs(loss(bp) - (wallet - q * fee / bp)) < D("1e-24")
    assert abs(loss(lp) - (wallet - mm - q * fee / bp)) < D("1e-24")


@pytest.mark.parametrize(
    ("side", "lp", "lp_tick", "bp_tick"),
    [
        # long:  BP = 1.00075·10,000 / (1 + 0.1) = 9,097.7272…; fee to close = 10,000 × 0.075 % / BP = 0.000824381…;
        #        LP = 10,000 / (1 + 0.1 − 0.005 − 0.000824381…) = 10,000 / 1.094175618… = 9,139.300705367…
        #        → 9,139.5 and BP → 9,098.0 (a long's prices round up to the 0.5 tick)
        ("long", "9139.300705367712", "9139.5", "9098.0"),
        # short: BP = 0.99925·10,000 / (1 − 0.1) = 11,102.7777…; fee to close = 7.5 / BP = 0.000675506…;
        #        LP = 10,000 / (1 − (0.1 − 0.005 − 0.000675506…)) = 10,000 / 0.905675506… = 11,041.482216086…
        #        → 11,041.0 and BP → 11,102.5 (a short's round down)
        ("short", "11041.482216086531", "11041.0", "11102.5"),
    ],
)
def test_classic_inverse_cross_puts_the_fee_in_the_bankruptcy_price(both, side, lp, lp_tick, bp_tick):
    # §4.4 classic inverse cross (formula legacy), with the taker fee of Bybit's formula, 0.075 %:
    # 10,000 USD contracts @ 10,000 (1 BTC), coin wallet 0.1 BTC, no order margin, MMR 0.5 %.
    scenario = {**_inverse(side, "cross", "10000", "10000"), "formula": "legacy", "wallet_balance": "0.1",
                "taker_fee": "0.00075"}  # fmt: skip
    (res,) = both(scenario)
    p = res["positions"][0]
    assert abs(D(p["liquidation_price_unrounded"]) - D(lp)) < D("1e-10")
    assert D(p["liquidation_price"]) == D(lp_tick) and D(p["bankruptcy_price"]) == D(bp_tick)
    _classic_check(side, D(p["liquidation_price_unrounded"]))


def test_classic_inverse_cross_without_a_fee_is_the_fee_less_equation(both):
    # Without taker_fee the same form has no fee term: BP = 10,000 / 1.1 = 9,090.9090… → 9,091.0;
    # LP = 10,000 / (1 + 0.1 − 0.005) = 9,132.420091… → 9,132.5.
    scenario = {**_inverse("long", "cross", "10000", "10000"), "formula": "legacy", "wallet_balance": "0.1"}
    (res,) = both(scenario)
    p = res["positions"][0]
    assert D(p["liquidation_price"]) == D("9132.5") and D(p["bankruptcy_price"]) == D("9091.0")


def test_classic_inverse_cross_prices_one_position_only():
    scenario = {**_inverse("long", "cross", "10000", "10000"), "formula": "legacy", "wallet_balance": "1"}
    scenario["instruments"]["BTCUSDH"] = dict(scenario["instruments"]["BTCUSD"])
    scenario["positions"].append({**scenario["positions"][0], "symbol": "BTCUSDH"})
    with pytest.raises(MarginCallError, match="one position in its coin wallet; 2 cross positions"):
        calculate(scenario)


def test_v16_liquidation_price_shown_on_the_adl_page(both):
    # V16's page shows LP 7,773.50 for the long 5,000 BTCUSD @ 7,890.08, 50x (inputs not all given). With the
    # BTCUSD tier-1 rate MMR 0.5 % the 2024 inverse form gives it: 5,000 / [PV + PV/50 − PV·0.5 %] = 7,890.08 /
    # 1.015 = 7,773.477832… → 7,773.50 (a long rounds up to the 0.5 tick).
    scenario = _inverse("long", "isolated", "5000", "7890.08")
    scenario["positions"][0]["leverage"] = "50"
    (res,) = both({**scenario, "formula": "2024"})
    assert D(res["positions"][0]["liquidation_price"]) == D("7773.50")


@settings(max_examples=200, deadline=None)
@example(sign=1, qty=6, entry=5462, wallet_bp=50, mmr_bp=50, fee_bp=0)  # cushion exactly 0: LP = EP to 28 digits
@given(
    sign=st.sampled_from([1, -1]),
    qty=st.integers(1, 10**7),
    entry=st.integers(1_000, 200_000),
    wallet_bp=st.integers(50, 5_000),  # wallet as basis points of the position's coin value
    mmr_bp=st.integers(10, 100),
    fee_bp=st.integers(0, 20),
)
def test_classic_inverse_cross_solves_its_published_equations(sign, qty, entry, wallet_bp, mmr_bp, fee_bp):
    # Whatever the inputs, the prices returned satisfy Bybit's two equations (§4.4), written out here; with margin
    # left above MM and the fee at entry, a long's liquidation price lies between its bankruptcy price and its entry
    # (a short's mirrored).
    q, ep = D(qty), D(entry)
    wallet, mmr, fee = q / ep * wallet_bp / 10_000, D(mmr_bp) / 10_000, D(fee_bp) / 10_000
    lp, bp = bybit_inverse_cross_classic(sign, q, ep, wallet, mmr, D(0), fee)
    if bp is None:
        assert sign < 0 and q / ep - wallet <= 0  # a short whose wallet covers any rise has no bankruptcy price
        return
    loss = lambda p: sign * q * (1 / p - 1 / ep)  # noqa: E731
    assert abs(loss(bp) - (wallet - q * fee / bp)) <= D("1e-20") * (1 + wallet)
    if lp is None:
        return
    cushion = wallet - q / ep * mmr - q * fee / bp
    assert abs(loss(lp) - cushion) <= D("1e-20") * (1 + wallet)
    # Exactly, a zero cushion gives LP = Q / (Q/EP) = EP; in 28-digit Decimal Q/EP is rounded, so LP may come back
    # a few units of the 28th digit off EP (qty 6, entry 5,462, wallet = MM: 5,461.999…998). The side of the entry
    # is therefore checked to that rounding: ``slack`` = EP × 1e-20, the tolerance of the equations above.
    slack = ep * D("1e-20")
    if cushion > 0:  # margin above MM and the fee to close at entry: liquidated between entry and bankruptcy
        assert (bp < lp < ep + slack) if sign > 0 else (ep - slack < lp < bp)
    else:  # already at or below it at entry: the price is at the entry or on its other side
        assert (lp > ep - slack) if sign > 0 else (lp < ep + slack)
