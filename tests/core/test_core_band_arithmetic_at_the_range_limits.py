"""The band arithmetic of the core's compiled pass at the edges of its range: MM and equity up to 2^61 money units
(where ``MM × 10^4`` and ``threshold × equity`` no longer fit in int64 and the pass compares them in 31-bit limbs)
agree with ``BandConfig.next_band`` computed in Decimal with enough digits to be exact (60)."""

from __future__ import annotations

from decimal import Decimal, localcontext

from hypothesis import given, settings
from hypothesis import strategies as st

from margincall.core.kernels import next_band
from margincall.core.tick import BandThresholds
from margincall.risk.margin_call import Band, BandConfig

LIMIT = 1 << 61
big = st.one_of(st.integers(-LIMIT, LIMIT), st.integers(-1000, 1000),
                st.sampled_from([LIMIT, -LIMIT, LIMIT - 1, 0, 1, -1]))
CONFIGS = [BandConfig(), BandConfig(Decimal("0.7"), Decimal("0.85"), Decimal("1"), Decimal("0.1")),
           BandConfig(Decimal("0.8001"), Decimal("0.9999"), Decimal("1"), Decimal("0.0001"))]


@settings(max_examples=1500, deadline=None)
@given(mm_w=big, mm_f=st.integers(0, 10**8 - 1), equity=big, current=st.integers(0, 3),
       config=st.sampled_from(CONFIGS), tie=st.sampled_from([None, 0, 1, 2, 3]), nudge=st.integers(-2, 2))
def test_next_band_equals_the_reference_up_to_the_range_limit(mm_w: int, mm_f: int, equity: int, current: int,
                                                             config: BandConfig, tie: int | None,
                                                             nudge: int) -> None:
    th = BandThresholds.of(config.warning, config.reduce_only, config.hysteresis)
    if tie is not None:
        # MM exactly at threshold × equity (t / 10^4 × E = mm_w + g / 10^4 with the fraction mm_f = g·10^4), then
        # nudged by a unit of the fraction's last place or of equity: one unit decides the band
        equity = abs(equity) + 1
        t = int(th.ints[tie])
        mm_w, g = divmod(t * equity, 10**4)
        mm_f = min(max(g * 10**4 + nudge, 0), 10**8 - 1)
        if nudge == 2:
            equity += 1
    got = next_band(current, mm_w, mm_f, equity, th.ints)
    with localcontext() as ctx:
        ctx.prec = 60
        mm = Decimal(mm_w) + Decimal(mm_f).scaleb(-8)
        want = config.next_band(Band(current), mm, Decimal(equity))
    assert got == int(want)
