"""Hypothesis properties of the index and the mark feed (issue #4 item 1)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from margincall.math.mark import median, weighted_median
from margincall.prices import BreakerMode, IndexMethod, IndexPrice, MarkFeed, MarkInputs, NoIndex, PriceRejected

settings.register_profile("prices", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("prices")

prices = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("1000000"), places=4)
weights = st.integers(min_value=1, max_value=5).map(Decimal)


@given(
    st.lists(st.tuples(prices, weights, st.integers(min_value=0, max_value=20_000)), min_size=1, max_size=9),
    st.sampled_from(list(IndexMethod)),
    st.one_of(st.none(), st.sampled_from([Decimal("0.01"), Decimal("0.05"), Decimal("0.2")])),
)
def test_index_lies_between_fresh_min_and_max(ticks, method, band):
    names = [f"s{i}" for i in range(len(ticks))]
    ix = IndexPrice("X", {n: w for n, (_, w, _) in zip(names, ticks, strict=True)}, method=method, outlier_band=band)
    for n, (p, _, ts) in zip(names, ticks, strict=True):
        ix.update(n, "X", p, ts)
    now = 20_000
    fresh = [p for p, _, ts in ticks if now - ts <= ix.max_age_ms]
    try:
        res = ix.evaluate(now)
    except NoIndex:
        # no fresh source, or every fresh source is outside the band around their median (e.g. two sources
        # more than 2 × band apart): nothing to trust, no index.
        if fresh:
            centre = median(fresh)
            assert band is not None
            assert all(abs(p - centre) / centre > band for p in fresh)
        return
    assert min(fresh) <= res.price <= max(fresh)
    used = [ix.last(n).price for n in res.used]
    assert min(used) <= res.price <= max(used)


@st.composite
def cluster_and_outlier(draw):
    """At least two sources within ``band`` of each other (max <= min × (1 + band)) and one price beyond the band
    of all. (With one source and one outlier neither is a majority: both are > band from their median, no index.)"""
    band = Decimal("0.05")
    low = draw(st.decimals(min_value=Decimal(1), max_value=Decimal(100_000), places=2))
    spread = draw(st.lists(st.decimals(min_value=0, max_value=Decimal(1), places=3), min_size=2, max_size=8))
    cluster = [low * (1 + band * s) for s in spread]
    far = draw(st.decimals(min_value=Decimal("1.5"), max_value=Decimal(1000), places=2))
    outlier = max(cluster) * (1 + band) * far if draw(st.booleans()) else min(cluster) * (1 - band) / far
    return cluster, outlier


@given(cluster_and_outlier(), st.sampled_from(list(IndexMethod)))
def test_far_outlier_does_not_move_the_index(case, method):
    cluster, outlier = case
    names = [f"s{i}" for i in range(len(cluster))]
    base = IndexPrice("X", [*names, "far"], method=method)
    with_outlier = IndexPrice("X", [*names, "far"], method=method)
    for n, p in zip(names, cluster, strict=True):
        base.update(n, "X", p, 0)
        with_outlier.update(n, "X", p, 0)
    with_outlier.update("far", "X", outlier, 0)
    res = with_outlier.evaluate(0)
    assert res.price == base.evaluate(0).price
    assert res.outliers == ("far",)


@given(st.lists(prices, min_size=1, max_size=15))
def test_equal_weights_weighted_median_is_the_median(values):
    assert weighted_median([(v, Decimal(1)) for v in values]) == median(values)
    assert weighted_median([(v, Decimal(3)) for v in values]) == median(values)


step = st.tuples(
    st.integers(min_value=0, max_value=3),  # ts gap (0 → out of order)
    st.one_of(prices, st.sampled_from(["nan", "-1", "0", "inf"])),
)


@given(
    st.lists(step, min_size=1, max_size=40),
    st.sampled_from([Decimal("0.01"), Decimal("0.1"), Decimal("0.25")]),
    st.one_of(st.none(), st.sampled_from([Decimal("0.0001"), Decimal("0.01"), Decimal("1")])),
    st.sampled_from(list(BreakerMode)),
    st.booleans(),
)
def test_marks_positive_and_within_the_breaker_band(steps, max_move, tick, mode, computed):
    feed = MarkFeed(["X"], max_move=max_move, breaker=mode, tick_sizes=None if tick is None else {"X": tick})
    ts = 0
    for gap, price in steps:
        ts += gap
        before = feed.last("X")
        try:
            tick_ = feed.accept_computed("X", MarkInputs(given=price), ts) if computed else feed.accept("X", price, ts)
        except PriceRejected:
            assert feed.last("X") is before
            continue
        assert tick_.price > 0
        assert feed.last("X") is tick_
        if before is not None:
            assert tick_.ts > before.ts
            assert tick_.previous == before.price
            assert abs(tick_.price - before.price) <= max_move * before.price
            if mode is BreakerMode.REJECT:
                assert not tick_.clamped
        if computed and tick is not None and not tick_.clamped:
            assert tick_.price % tick == 0
