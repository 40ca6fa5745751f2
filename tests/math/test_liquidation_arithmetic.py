"""The liquidation waterfall's formulas (margincall.math.liquidation), against hand arithmetic."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from margincall.math.contracts import pnl_of
from margincall.math.liquidation import (
    ClosingLeg,
    bankruptcy_prices_sharing_equity_pro_rata_to_notional,
    liquidation_fee_rounded_up,
    nominal_liquidation_fee,
    partial_step_cost_fee_plus_slippage,
    price_in_event,
    socialized_loss_shares_pro_rata_to_profit,
    takeover_fund_result_after_closing_at_fills,
)
from margincall.model.enums import ContractKind

LIN, INV = ContractKind.LINEAR, ContractKind.INVERSE
UNIT = D("1e-8")


def test_one_long_goes_bankrupt_where_its_loss_from_the_mark_uses_up_the_equity() -> None:
    # long 2 at mark 100 with equity 30: P = 100 − 30 / 2 = 85 (2 × (85 − 100) = −30)
    assert bankruptcy_prices_sharing_equity_pro_rata_to_notional([ClosingLeg(LIN, 1, D(2), D(100))], D(30)) == [D(85)]


def test_a_deficit_is_shared_by_notional_between_the_positions() -> None:
    # long A: Q 2 at 100 (notional 200); short B: Q 10 at 30 (notional 300); equity −50, ΣN = 500
    # A takes −50 × 200/500 = −20: P_A = 100 + 20 / 2 = 110; B takes −30: P_B = 30 + 30 / (−10) = 27
    # check: +20 (A closes 10 above the mark on 2) + 30 (B closes 3 below on 10) − 50 = 0
    legs = [ClosingLeg(LIN, 1, D(2), D(100)), ClosingLeg(LIN, -1, D(10), D(30))]
    assert bankruptcy_prices_sharing_equity_pro_rata_to_notional(legs, D(-50)) == [D(110), D(27)]


def test_an_inverse_short_goes_bankrupt_above_the_mark() -> None:
    # short 1,000 USD at 50,000 with equity 0.01 BTC: 1/P = 1/50,000 − 0.01 / 1,000 = 0.00002 − 0.00001
    # = 0.00001, P = 100,000 (the short loses 1,000 × (1/50,000 − 1/100,000) = 0.01 BTC)
    assert bankruptcy_prices_sharing_equity_pro_rata_to_notional([ClosingLeg(INV, -1, D(1000), D(50000))],
                                                                  D("0.01")) == [D(100000)]


def test_no_positive_price_uses_up_the_equity_the_price_goes_past_the_edge() -> None:
    # inverse short, 1,000 USD at 50,000, equity 0.03 BTC: 1/P = 0.00002 − 0.00003 < 0, no such price:
    # mark × 1,000; linear long Q 1 at 100 with equity 150: P = 100 − 150 < 0: mark / 1,000
    assert bankruptcy_prices_sharing_equity_pro_rata_to_notional([ClosingLeg(INV, -1, D(1000), D(50000))],
                                                                  D("0.03")) == [D(50_000_000)]
    assert bankruptcy_prices_sharing_equity_pro_rata_to_notional([ClosingLeg(LIN, 1, D(1), D(100))],
                                                                  D(150)) == [D("0.1")]


def test_a_bankruptcy_price_keeps_ten_decimals() -> None:
    # long 3 at 100, equity 1: P = 100 − 1/3 = 99.666…, to 10 decimals 99.6666666667
    assert bankruptcy_prices_sharing_equity_pro_rata_to_notional([ClosingLeg(LIN, 1, D(3), D(100))],
                                                                  D(1)) == [D("99.6666666667")]
    # trailing zeros dropped, never an exponent: 1.50000 → 1.5, 1E+2 → 100
    assert str(price_in_event(D("1.50000"))) == "1.5" and str(price_in_event(D("1E+2"))) == "100"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([1, -1]), st.integers(1, 10_000), st.integers(1_000, 10_000_000)),
                min_size=1, max_size=4),
       st.integers(-10**9, 10**9))
def test_closing_every_leg_at_its_bankruptcy_price_leaves_the_equity_at_zero(legs_in: list[tuple[int, int, int]],
                                                                             equity_cents: int) -> None:
    # linear legs: Σ pnl(mark → P_i) = −E, to what the prices' 10 decimals leave (Q_i × 0.5e-10 per leg)
    legs = [ClosingLeg(LIN, s, D(q) / 100, D(m) / 100) for s, q, m in legs_in]
    equity = D(equity_cents) / 100
    # |share_i| = |E| × N_i / ΣN < N_i while |E| < ΣN: every price stays above zero (half of ΣN: well above)
    assume(abs(equity) * 2 < sum(leg.qty * leg.mark for leg in legs))
    prices = bankruptcy_prices_sharing_equity_pro_rata_to_notional(legs, equity)
    left = equity + sum(pnl_of(LIN, leg.sign, leg.qty, leg.mark, p) for leg, p in zip(legs, prices, strict=True))
    assert abs(left) <= sum(leg.qty for leg in legs) * D("1e-10")


def test_the_liquidation_fee_is_rounded_up_once_over_every_position() -> None:
    # 0.001 BTC closed at 12,345.67121 at 1.25 %: 12.34567121 × 0.0125 = 0.154320890125; to 1e-8 up: 0.15432090
    # (half-even would give 0.15432089, a fee the venue rounds in the user's favour)
    nominal = nominal_liquidation_fee(LIN, D("0.001"), D("12345.67121"), D("0.0125"))
    assert nominal == D("0.154320890125")
    assert liquidation_fee_rounded_up(nominal, UNIT) == D("0.15432090")
    # two positions of 1e-9 each: summed first, 2e-9 up is 1e-8 (each rounded up would ask 2e-8)
    assert liquidation_fee_rounded_up(D("1e-9") + D("1e-9"), UNIT) == D("1e-8")
    # inverse: 100 USD at 20,000 is 0.005 BTC, × 1.5 % = 0.000075 exactly
    assert liquidation_fee_rounded_up(nominal_liquidation_fee(INV, D(100), D(20000), D("0.015")), UNIT) == \
        D("0.00007500")


def test_a_partial_step_costs_its_fee_and_its_slippage_from_the_mark() -> None:
    # long Q 2 at mark 100 closed at 99 with a 1 % fee: fee 2 × 99 × 0.01 = 1.98, slippage 2 × (100 − 99) = 2
    assert partial_step_cost_fee_plus_slippage(LIN, 1, D(2), D(100), D(99), D("0.01")) == D("3.98")
    # short Q 10 at mark 30 closed at 30.5, no fee: 10 × 0.5 = 5
    assert partial_step_cost_fee_plus_slippage(LIN, -1, D(10), D(30), D("30.5"), D(0)) == D(5)


def test_the_fund_is_left_the_equity_less_the_slippage_of_every_fill() -> None:
    # equity 10; long Q 2 at 100 filled at 99 (−2); short Q 10 at 30 filled at 30.5 (−5): 10 − 2 − 5 = 3
    legs = [ClosingLeg(LIN, 1, D(2), D(100)), ClosingLeg(LIN, -1, D(10), D(30))]
    assert takeover_fund_result_after_closing_at_fills(D(10), legs, [D(99), D("30.5")]) == D(3)


def test_a_socialized_loss_is_shared_by_profit_capped_at_what_each_can_pay() -> None:
    # loss 10 over profits a 30, b 10, c 60 (Σ 100): a 3, b 1 capped at 0.5, c 6
    shares = socialized_loss_shares_pro_rata_to_profit(D(10), {"c": D(60), "a": D(30), "b": D(10)},
                                                       {"a": D(100), "b": D("0.5"), "c": D(100)}, D("0.01"))
    assert shares == [("a", D("3.00")), ("b", D("0.50")), ("c", D("6.00"))]
    # loss 1 over x 1, y 2: 0.333… → 0.33, 0.666… → 0.67; a share that rounds to nothing is left out
    assert socialized_loss_shares_pro_rata_to_profit(D(1), {"x": D(1), "y": D(2)}, {"x": D(9), "y": D(9)},
                                                     D("0.01")) == [("x", D("0.33")), ("y", D("0.67"))]
    assert socialized_loss_shares_pro_rata_to_profit(D("0.001"), {"x": D(1), "y": D(2)}, {"x": D(9), "y": D(9)},
                                                     D("0.01")) == []
    assert socialized_loss_shares_pro_rata_to_profit(D(1), {}, {}, D("0.01")) == []
