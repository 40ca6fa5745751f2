"""The core's 128-bit products and quotients (``core.wide``) equal Python's integers: the product of two int64,
the floor and the remainder of its quotient, half-to-even rounding (ties to the even quotient), and a refusal
(−1) exactly when the quotient leaves int64."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from margincall.core.wide import mul, mul_div_floor, mul_div_half_even

I63 = st.one_of(st.integers(0, 2**63 - 1), st.integers(0, 2**32), st.sampled_from([0, 1, 2**32 - 1, 2**32, 2**63 - 1]))
D = st.one_of(st.integers(1, 2**63 - 1), st.integers(1, 10**6), st.sampled_from([10**k for k in range(19)]))


@settings(deadline=None)
@given(a=I63, b=I63)
def test_the_product_is_pythons(a: int, b: int) -> None:
    hi, lo = mul(a, b)
    assert (int(hi) << 64) | int(lo) == a * b


@settings(deadline=None)
@given(a=I63, b=I63, d=D)
@example(a=2**63 - 1, b=2**63 - 1, d=2**63 - 1)  # quotient 2^63 − 1: the largest that fits
@example(a=2**62, b=2, d=1)                      # quotient 2^63: refused
def test_the_quotient_is_pythons_or_refused(a: int, b: int, d: int) -> None:
    q, r = divmod(a * b, d)
    got = mul_div_floor(a, b, d)
    assert (int(got[0]), int(got[1])) == ((q, r) if q < 2**63 else (-1, -1))


@settings(deadline=None)
@given(a=I63, b=I63, d=D)
@example(a=5, b=1, d=2)   # 2.5 → 2
@example(a=7, b=1, d=2)   # 3.5 → 4
@example(a=1, b=1, d=3)   # 0.33 → 0
@example(a=2, b=1, d=3)   # 0.67 → 1
@example(a=2**63 - 1, b=2, d=2)  # 2^63 − 1 exactly: fits
@example(a=2**64 - 1 >> 1, b=2, d=2**63 - 1 >> 0)  # rounds to 2
def test_half_even_is_pythons(a: int, b: int, d: int) -> None:
    q, r = divmod(a * b, d)
    if 2 * r > d or (2 * r == d and q % 2 == 1):
        q += 1
    got = int(mul_div_half_even(a, b, d))
    assert got == (q if q < 2**63 else -1)
