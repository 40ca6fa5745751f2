"""The integer twins of a linear position's IM and tiered MM (`margincall.math.book_exact`) give the Decimal
formulas' values rounded up to 1e-8 — ``charge(initial_margin(notional_of(...)), 1e-8)`` and
``charge(maintenance_margin(...), 1e-8)`` — on random inputs and on inputs exactly at a unit or a tier floor."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from margincall.math.book_exact import im_mm_linear
from margincall.math.contracts import notional_of
from margincall.math.margin import initial_margin, maintenance_margin
from margincall.math.trade import charge
from margincall.model.enums import ContractKind, TierBasis, TierMode
from margincall.model.tiers import TierTable
from margincall.venues.profiles import get_venue

UNIT = Decimal("1e-8")
TABLES = [get_venue(v).tier_table(s) for v, s in (("binance-usdm", "BTCUSDT"), ("okx", "ETH-USDT-SWAP"),
                                                  ("hyperliquid", "BTC"))]  # fmt: skip


def _arrays(table: TierTable, fee: Decimal) -> tuple[np.ndarray, ...]:
    bracket = table.mode is TierMode.BRACKET
    floors = [int(t.floor.scaleb(8)) for t in table.tiers]
    rates = [int((t.mmr + fee).scaleb(8)) for t in table.tiers]
    amounts = [int(t.maintenance_amount.scaleb(8)) if bracket else 0 for t in table.tiers]
    return (np.array([0, len(floors)], np.int64), np.array(floors, np.int64), np.array(rates, np.int64),
            np.array(amounts, np.int64), np.ones(len(floors), np.bool_), np.array([table.basis is TierBasis.CONTRACTS]),
            np.array([table.cap_inclusive]))  # fmt: skip


def _decimal(digits: int) -> st.SearchStrategy[Decimal]:
    return st.integers(1, 10**6).map(lambda i: Decimal(i).scaleb(-digits))


@settings(max_examples=200, deadline=None)
@given(
    table=st.sampled_from(TABLES),
    fee=st.sampled_from([Decimal(0), Decimal("0.0005")]),
    ds=st.integers(0, 4),
    dm=st.integers(0, 3),
    contract=st.sampled_from([Decimal(1), Decimal("0.1"), Decimal("0.01")]),
    data=st.data(),
)
def test_im_and_mm_in_integers_are_the_decimal_formulas_rounded_up(
    table: TierTable, fee: Decimal, ds: int, dm: int, contract: Decimal, data: st.DataObject
) -> None:
    size = data.draw(_decimal(ds))
    mark = data.draw(_decimal(dm))
    leverage = data.draw(st.sampled_from([Decimal(1), Decimal(3), Decimal(7), Decimal("2.5"), Decimal(125)]))
    q = size * contract
    if data.draw(st.booleans()):
        # put the amount exactly on a tier floor: the tier choice at its boundary
        t = table.tiers[data.draw(st.integers(0, len(table.tiers) - 1))]
        if table.basis is TierBasis.CONTRACTS:
            size = max(t.floor, Decimal(1))
            q = size * contract
        elif t.floor > 0:
            mark = t.floor / q if (t.floor / q).as_tuple().exponent >= -dm else mark  # type: ignore[operator]
    dc = 2
    ptr, floors, rates, amounts, exact, by_contracts, inclusive = _arrays(table, fee)
    # at the scales a book's cells give: their own digits (a tier-floor mark may need more)
    d_s, d_m = ds, max(dm, -int(mark.normalize().as_tuple().exponent))
    s_int, m_int = int(size.scaleb(d_s)), int(mark.scaleb(d_m))
    lev_int, d_l = int(leverage.scaleb(1)), 1
    im, mm, im_ok, mm_ok = np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1, np.bool_), np.zeros(1, np.bool_)
    yes = np.ones(1, np.bool_)
    im_mm_linear(yes, yes, np.zeros(1, np.int64), np.array([s_int]), d_s, np.array([m_int]), np.array([m_int]), d_m,
                 np.array([lev_int]), d_l, np.array([int(contract.scaleb(dc))]), dc, ptr, floors, rates, amounts,
                 exact, by_contracts, inclusive, im, mm, im_ok, mm_ok, np.zeros(1, np.int64))  # fmt: skip
    if not (im_ok[0] and mm_ok[0]):
        # beyond int64 (IM's n·10^(8+dl−dn) or MM's n·rate): left to the reference, only for large integers
        assert s_int * int(contract.scaleb(dc)) * m_int * 10**9 > 2**61
        return
    want_im = charge(initial_margin(notional_of(ContractKind.LINEAR, q, mark), leverage), UNIT)
    want_mm = charge(maintenance_margin(table, ContractKind.LINEAR, q, mark, contract, fee), UNIT)
    assert Decimal(int(im[0])).scaleb(-8) == want_im, (size, mark, leverage)
    assert Decimal(int(mm[0])).scaleb(-8) == want_mm, (size, mark, table.tiers[0])


def test_a_notional_exactly_on_a_floor_takes_the_upper_tier_unless_caps_are_inclusive() -> None:
    # Binance BTCUSDT: N = 1 × 50000 is tier 2's floor → MM = 50000 × 0.005 − 50 = 200 (tier 1 would give 200 too:
    # the bracket is continuous); IM = 50000 / 3 = 16666.666666666… → up to 16666.66666667
    table = TABLES[0]
    ptr, floors, rates, amounts, exact, by_contracts, inclusive = _arrays(table, Decimal(0))
    im, mm, im_ok, mm_ok = np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1, np.bool_), np.zeros(1, np.bool_)
    yes = np.ones(1, np.bool_)
    im_mm_linear(yes, yes, np.zeros(1, np.int64), np.array([1]), 0, np.array([50000]), np.array([50000]), 0,
                 np.array([3]), 0, np.array([1]), 0, ptr, floors, rates, amounts, exact, by_contracts,
                 inclusive, im, mm, im_ok, mm_ok, np.zeros(1, np.int64))  # fmt: skip
    assert im_ok[0] and mm_ok[0] and im[0] == 1666666666667 and mm[0] == 200 * 10**8
