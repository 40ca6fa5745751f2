"""The liquidation map of one symbol (math.liquidation_map): counts, notional and deficit per move."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from margincall.math.contracts import pnl_of
from margincall.math.liquidation_map import MapPosition, fund_draw, move_grid, symbol_map
from margincall.model.enums import ContractKind
from margincall.model.errors import MarginCallError


def test_grid_is_symmetric_with_zero_in_the_middle():
    assert move_grid(D("0.3"), 3) == (D("-0.3"), D("-0.2"), D("-0.1"), 0, D("0.1"), D("0.2"), D("0.3"))
    with pytest.raises(MarginCallError, match="range"):
        move_grid(D(1), 3)
    with pytest.raises(MarginCallError, match="steps"):
        move_grid(D("0.3"), 0)


def test_linear_book_by_hand():
    # mark 100, moves ±30 % in 10 % steps: prices 70, 80, 90, 100, 110, 120, 130
    book = [MapPosition(1, D(2), D(95), D(90)),    # long A
            MapPosition(1, D(1), D(80), D(75)),    # long B
            MapPosition(-1, D(3), D(110), D(115)),  # short C
            MapPosition(1, D(1), None, None)]      # long D, fully collateralised: never
    m = symbol_map(ContractKind.LINEAR, D(100), book, move_grid(D("0.3"), 3))
    assert m.prices == (70, 80, 90, 100, 110, 120, 130)
    # longs with LP ≥ P: at 70 and 80 A and B (B's LP is 80), at 90 A only
    assert m.long_count == (2, 2, 1, 0, 0, 0, 0)
    # notional at LP: A 2 × 95 = 190, B 1 × 80 = 80
    assert m.long_notional == (270, 270, 190, 0, 0, 0, 0)
    # shorts with LP ≤ P: C from 110; 3 × 110 = 330
    assert m.short_count == (0, 0, 0, 0, 1, 1, 1)
    assert m.short_notional == (0, 0, 0, 0, 330, 330, 330)
    # at 70: A (90 − 70) × 2 = 40, B (75 − 70) × 1 = 5 → 45; at 80: A 10 × 2 = 20 (B's BP 75 not passed);
    # at 90 A's BP is reached, not passed: 0; at 120: C (120 − 115) × 3 = 15; at 130: 15 × 3 = 45
    assert m.deficit == (45, 20, 0, 0, 0, 15, 45)
    assert (m.positions, m.no_liquidation_price) == (4, 1)


def test_inverse_book_by_hand():
    # mark 50,000, moves ±50 %: prices 25,000, 50,000, 75,000; quantities in USD face, money in coin
    book = [MapPosition(1, D(10000), D(45000), D(40000)), MapPosition(-1, D(5000), D(60000), D(62500))]
    m = symbol_map(ContractKind.INVERSE, D(50000), book, move_grid(D("0.5"), 1), money_step=D("0.00000001"))
    assert m.prices == (25000, 50000, 75000)
    assert m.long_count == (1, 0, 0) and m.short_count == (0, 0, 1)
    assert m.long_notional[0] == D(10000) / D(45000)  # 0.2222… BTC at the LP
    assert m.short_notional[2] == D(5000) / D(60000)
    # long at 25,000: 10,000 × (1/25,000 − 1/40,000) = 0.4 − 0.25 = 0.15 BTC
    # short at 75,000: 5,000 × (1/62,500 − 1/75,000) = 0.08 − 0.0666… = 0.01333… → up to 0.01333334
    assert m.deficit == (D("0.15"), 0, D("0.01333334"))


def test_fund_draw():
    # a fund of 30 against a deficit of 45: pays 30, leaves 15 to ADL; a fund of 50 pays it all
    assert fund_draw(D(30), D(45)) == (30, 15)
    assert fund_draw(D(50), D(45)) == (45, 0)
    assert fund_draw(D(-5), D(10)) == (0, 10)


def test_bad_input_names_the_field():
    with pytest.raises(MarginCallError, match="mark"):
        symbol_map(ContractKind.LINEAR, D(0), [], move_grid(D("0.1"), 1))
    with pytest.raises(MarginCallError, match="size"):
        symbol_map(ContractKind.LINEAR, D(1), [MapPosition(1, D(0), D(1), D(1))], move_grid(D("0.1"), 1))


price = st.decimals(min_value=1, max_value=200, places=2)
position = st.builds(MapPosition, st.sampled_from([1, -1]), st.decimals(min_value="0.001", max_value=50, places=3),
                     st.one_of(st.none(), price), st.one_of(st.none(), price))


@settings(max_examples=150, deadline=None)
@given(st.lists(position, max_size=30), st.sampled_from(list(ContractKind)),
       st.decimals(min_value="0.01", max_value="0.99", places=2), st.integers(1, 12))
def test_counts_are_cumulative_and_match_position_by_position(book, kind, span, steps):
    m = symbol_map(kind, D(100), book, move_grid(span, steps))
    # monotone: a larger move down liquidates every long a smaller one does; the same upwards for shorts
    assert list(m.long_count) == sorted(m.long_count, reverse=True)
    assert list(m.short_count) == sorted(m.short_count)
    assert list(m.long_notional) == sorted(m.long_notional, reverse=True)
    assert list(m.short_notional) == sorted(m.short_notional)
    for i, p in enumerate(m.prices):
        # the independent form: each position on its own, the deficit as the negative PnL from BP to P
        assert m.long_count[i] == sum(1 for q in book if q.side > 0 and q.liquidation_price and
                                      q.liquidation_price >= p)
        assert m.short_count[i] == sum(1 for q in book if q.side < 0 and q.liquidation_price and
                                       q.liquidation_price <= p)
        loss = sum((max(D(0), -pnl_of(kind, q.side, q.quantity, q.bankruptcy_price, p)) for q in book
                    if q.bankruptcy_price), D(0))
        assert abs(m.deficit[i] - loss) <= D("1e-20") * max(D(1), loss)
