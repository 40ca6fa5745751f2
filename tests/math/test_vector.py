"""The vectorised float64 path equals the exact Decimal path (relative error < 1e-9) on random books."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from margincall.math.contracts import notional_of
from margincall.math.margin import maintenance_margin
from margincall.math.solver import Leg, solve_price
from margincall.math.vector import TierArrays, liquidation_price_vec, maintenance_margin_vec
from margincall.model import ContractKind
from margincall.venues.tables import (
    BINANCE_USDM_BTCUSDT_2021,
    BINANCE_USDM_BTCUSDT_2024,
    BYBIT_LINEAR_BTCUSDT_2026,
    DYDX_LARGE_CAP,
    HYPERLIQUID_BTC,
)

TABLES = [
    BINANCE_USDM_BTCUSDT_2024,
    BINANCE_USDM_BTCUSDT_2021,
    BYBIT_LINEAR_BTCUSDT_2026,
    HYPERLIQUID_BTC,
    DYDX_LARGE_CAP,
]
ARRAYS = TierArrays.from_tables(TABLES)

position = st.tuples(
    st.integers(0, len(TABLES) - 1),
    st.booleans(),
    st.sampled_from([1, -1]),
    st.decimals(Decimal("0.001"), Decimal("5000"), places=3),
    st.decimals(Decimal("100"), Decimal("100000"), places=2),
    st.decimals(Decimal("1"), Decimal("50"), places=1),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(position, min_size=1, max_size=20))
def test_vector_equals_decimal(book):
    table = np.array([p[0] for p in book])
    inverse = np.array([p[1] for p in book])
    sign = np.array([float(p[2]) for p in book])
    # Inverse quantities are USD face values: scale so the coin notional stays in the same tiers.
    qty_d = [p[3] * (p[4] if p[1] else 1) for p in book]
    margin_d = [
        notional_of(ContractKind.INVERSE if p[1] else ContractKind.LINEAR, q, p[4]) / p[5]
        for p, q in zip(book, qty_d, strict=True)
    ]
    qty = np.array([float(q) for q in qty_d])
    entry = np.array([float(p[4]) for p in book])
    margin = np.array([float(m) for m in margin_d])
    vec = liquidation_price_vec(ARRAYS, table, inverse, sign, qty, entry, margin)
    notional = np.where(inverse, qty / entry, qty * entry)
    mm_vec = maintenance_margin_vec(ARRAYS, table, notional)
    for i, p in enumerate(book):
        kind = ContractKind.INVERSE if p[1] else ContractKind.LINEAR
        exact = solve_price([Leg(kind, p[2], qty_d[i], p[4], TABLES[p[0]])], margin_d[i], p[4]).price
        if exact is None:
            assert np.isnan(vec[i])
        else:
            assert abs(vec[i] - float(exact)) <= 1e-9 * float(exact)
        mm = maintenance_margin(TABLES[p[0]], kind, qty_d[i], p[4])
        assert abs(mm_vec[i] - float(mm)) <= 1e-9 * max(1.0, abs(float(mm)))


def test_vector_golden_v1_v3():
    # V1: constant = 1,535,443.01 − 356,512.508 + (−448,192.89), BTCUSDT 109.488 @ 32,481.98 → 26,316.8933;
    # V3: the same position isolated with 1,535,443.01 → 18,778.7259 (2021 brackets).
    arrays = TierArrays.from_tables([BINANCE_USDM_BTCUSDT_2021])
    one = np.array
    constant = one([1535443.01 - 356512.508 - 448192.89, 1535443.01])
    lp = liquidation_price_vec(
        arrays,
        one([0, 0]),
        one([False, False]),
        one([1.0, 1.0]),
        one([109.488, 109.488]),
        one([32481.98, 32481.98]),
        constant,
    )
    assert abs(lp[0] - 26316.8933) < 0.005 and abs(lp[1] - 18778.7259) < 0.005
