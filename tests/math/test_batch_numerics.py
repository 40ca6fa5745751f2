"""The batch kernels' double-double arithmetic (math.batch_numerics) and the PnL in it (batch_kernels.pnl2),
against exact Decimal arithmetic on the floats' exact values."""

from __future__ import annotations

from decimal import Decimal as D
from decimal import localcontext

from hypothesis import given, settings
from hypothesis import strategies as st

from margincall.math.batch_kernels import pnl2
from margincall.math.batch_numerics import decimal_of, two_prod, two_sum
from margincall.math.contracts import pnl_of
from margincall.model.enums import ContractKind

#: Money-sized floats: TwoProduct is exact only while the product's error does not underflow.
finite = st.one_of(st.just(0.0), st.floats(min_value=1e-9, max_value=1e12), st.floats(min_value=-1e12, max_value=-1e-9))
prices = st.decimals(min_value=1, max_value=100000, places=2)
sizes = st.decimals(min_value=D("0.001"), max_value=10000, places=3)


@settings(deadline=None)  # the first call compiles
@given(finite, finite)
def test_two_sum_and_two_prod_are_exact(a: float, b: float) -> None:
    s, e = two_sum(a, b)
    p, f = two_prod(a, b)
    with localcontext() as ctx:
        ctx.prec = 800  # exact for any two float64 sums and products
        assert D(s) + D(e) == D(a) + D(b)
        assert D(p) + D(f) == D(a) * D(b)


@settings(deadline=None)  # the first call compiles
@given(st.decimals(min_value=-10**7 + 1, max_value=10**7 - 1, places=8))
def test_decimal_of_recovers_the_typed_decimal(d: D) -> None:
    # float(d) is d rounded (~1e-16); d has ≤ 15 significant digits, so it is the shortest decimal rounding to
    # float(d), and decimal_of gives it in double-double to ~1e-32
    hi, lo = decimal_of(float(d))
    with localcontext() as ctx:
        ctx.prec = 60
        assert abs(D(hi) + D(lo) - d) <= D("1e-30") * max(abs(d), D(1))


def test_decimal_of_hand_examples() -> None:
    # 0.1 is 0.1000000000000000055511151231257827… in float64; its decimal is 0.1 (hi + lo within 1e-33)
    hi, lo = decimal_of(0.1)
    with localcontext() as ctx:
        ctx.prec = 60
        assert abs(D(hi) + D(lo) - D("0.1")) < D("1e-33")
    # a float no short decimal rounds to (1/3): left as it is
    assert decimal_of(1 / 3) == (1 / 3, 0.0)


@settings(deadline=None)  # the first call compiles
@given(st.sampled_from([ContractKind.LINEAR, ContractKind.INVERSE]), st.sampled_from([1, -1]), sizes, prices, prices)
def test_pnl2_is_pnl_of_to_thirty_digits(kind: ContractKind, sign: int, q: D, entry: D, mark: D) -> None:
    qh, ql = decimal_of(float(q))
    eh, el = decimal_of(float(entry))
    ph, pl = decimal_of(float(mark))
    hi, lo = pnl2(kind is ContractKind.INVERSE, float(sign), qh, ql, eh, el, ph, pl)
    with localcontext() as ctx:
        ctx.prec = 60
        exact = pnl_of(kind, sign, q, entry, mark)
        # relative to the terms the difference is taken of (the PnL itself may cancel to anything)
        scale = q * (entry + mark if kind is ContractKind.LINEAR else 1 / entry + 1 / mark)
        assert abs(D(hi) + D(lo) - exact) <= D("1e-28") * scale
