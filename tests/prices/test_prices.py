"""Index, mark rules and the mark feed (issue #4 item 1), with hand-computed numbers (docs/venues.md §3.6, §4.7, §7)."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from margincall.math.mark import time_until_funding, weighted_mean, weighted_median
from margincall.model.errors import MarginCallError, UnknownSymbol
from margincall.prices import (
    BasisMovingAverage,
    BinanceMark,
    BreakerMode,
    DecayingEma,
    GivenMark,
    HyperliquidMark,
    IndexBook,
    IndexMethod,
    IndexPrice,
    MarkFeed,
    MarkInputs,
    PriceRejected,
)

D = Decimal


def codes_of(fn, *args, **kwargs) -> str:
    with pytest.raises(MarginCallError) as info:
        fn(*args, **kwargs)
    return info.value.code


# ---------------------------------------------------------------- index


def test_median_of_three_sources():
    ix = IndexPrice("BTCUSDT", ["a", "b", "c"])
    for src, p in (("a", "100"), ("b", "102"), ("c", "101")):
        ix.update(src, "BTCUSDT", p, 1000)
    # sorted 100, 101, 102 → 101
    res = ix.evaluate(1000)
    assert res.price == D(101)
    assert res.used == ("a", "b", "c") and res.stale == () and res.outliers == () and res.missing == ()


def test_median_of_even_count_is_mean_of_middle_two():
    ix = IndexPrice("BTCUSDT", ["a", "b", "c", "d"])
    for src, p in (("a", "100"), ("b", "101"), ("c", "102"), ("d", "104")):
        ix.update(src, "BTCUSDT", p, 1000)
    # (101 + 102) / 2 = 101.5
    assert ix.evaluate(1000).price == D("101.5")


def test_weighted_median_hyperliquid_oracle_weights():
    # Hyperliquid oracle weights (§7): binance 3, okx 2, bybit 2, kraken 1, kucoin 1; total 9, half 4.5.
    # Sorted: bybit 99.8 (cum 2), binance 100.0 (cum 5 >= 4.5) → 100.0. The plain median would be 100.2.
    weights = {"binance": 3, "okx": 2, "bybit": 2, "kraken": 1, "kucoin": 1}
    ix = IndexPrice("BTC", weights)
    for src, p in (("binance", "100.0"), ("okx", "100.4"), ("bybit", "99.8"), ("kraken", "100.2"), ("kucoin", "100.6")):
        ix.update(src, "BTC", p, 5)
    assert ix.method is IndexMethod.WEIGHTED_MEDIAN
    assert ix.evaluate(5).price == D("100.0")
    plain = IndexPrice("BTC", list(weights), method=IndexMethod.MEDIAN)
    for src, p in (("binance", "100.0"), ("okx", "100.4"), ("bybit", "99.8"), ("kraken", "100.2"), ("kucoin", "100.6")):
        plain.update(src, "BTC", p, 5)
    assert plain.evaluate(5).price == D("100.2")


def test_weighted_median_exactly_half_averages_neighbours():
    # weights 1, 1, 2 at 10, 20, 30: total 4, cumulative weight at 20 is exactly 2 = half → (20 + 30)/2 = 25,
    # the same as the plain median of the expanded list 10, 20, 30, 30.
    assert weighted_median([(D(10), D(1)), (D(20), D(1)), (D(30), D(2))]) == D(25)
    assert weighted_median([(D(7), D("0.5"))]) == D(7)


def test_weighted_mean_binance_index():
    # Binance price index Σ w·p / Σ w (§3.6): weights 1, 2, 1 at 100, 101, 104 → (100 + 202 + 104)/4 = 101.5
    ix = IndexPrice("BTCUSDT", {"a": 1, "b": 2, "c": 1}, method=IndexMethod.WEIGHTED_MEAN)
    for src, p in (("a", 100), ("b", 101), ("c", 104)):
        ix.update(src, "BTCUSDT", p, 0)
    assert ix.evaluate(0).price == D("101.5")
    assert weighted_mean([(D(100), D(1)), (D(101), D(2)), (D(104), D(1))]) == D("101.5")


def test_stale_source_is_dropped():
    ix = IndexPrice("BTCUSDT", ["a", "b", "c"], max_age_ms=10_000)
    ix.update("a", "BTCUSDT", "100", 0)
    ix.update("b", "BTCUSDT", "101", 5_000)
    ix.update("c", "BTCUSDT", "103", 6_000)
    # at 10,000 a is exactly 10 s old: still fresh → median(100, 101, 103) = 101
    assert ix.evaluate(10_000).price == D(101)
    # at 12,000 a is 12 s old → dropped → median(101, 103) = 102
    res = ix.evaluate(12_000)
    assert res.price == D(102)
    assert res.used == ("b", "c") and res.stale == ("a",)


def test_outlier_is_dropped():
    ix = IndexPrice("BTCUSDT", ["a", "b", "c", "d"])
    for src, p in (("a", 100), ("b", 101), ("c", 102), ("d", 120)):
        ix.update(src, "BTCUSDT", p, 0)
    # median of fresh = (101 + 102)/2 = 101.5; |120 − 101.5|/101.5 = 18.2 % > 5 % → d dropped;
    # |100 − 101.5|/101.5 = 1.5 % kept → median(100, 101, 102) = 101
    res = ix.evaluate(0)
    assert res.price == D(101) and res.outliers == ("d",)
    unfiltered = IndexPrice("BTCUSDT", ["a", "b", "c", "d"], outlier_band=None)
    for src, p in (("a", 100), ("b", 101), ("c", 102), ("d", 120)):
        unfiltered.update(src, "BTCUSDT", p, 0)
    assert unfiltered.evaluate(0).price == D("101.5")


@pytest.mark.parametrize(("c_price", "expected"), [("105", D(305) / 3), ("105.01", D(100))])
def test_outlier_band_boundary(c_price, expected):
    # median(100, 100, c) = 100; c = 105 is exactly 5 % away → kept: mean (100 + 100 + 105)/3;
    # 105.01 is 5.01 % away → dropped: mean(100, 100) = 100.
    ix = IndexPrice("X", ["a", "b", "c"], method=IndexMethod.WEIGHTED_MEAN)
    for src, p in (("a", "100"), ("b", "100"), ("c", c_price)):
        ix.update(src, "X", p, 0)
    assert ix.evaluate(0).price == expected


def test_many_outliers_fallback_uses_plain_median_of_all():
    # fresh 80, 100, 102, 120, 130: median 102; 80 (21.6 %), 120 (17.6 %), 130 (27.5 %) deviate > 5 %.
    # Dropping them: median(100, 102) = 101. Binance 2019–20 rule (>1 outlier → plain median of all): 102.
    prices = {"a": 100, "b": 102, "c": 80, "d": 120, "e": 130}
    drop = IndexPrice("X", list(prices))
    fallback = IndexPrice("X", list(prices), many_outliers_fallback=True)
    for src, p in prices.items():
        drop.update(src, "X", p, 0)
        fallback.update(src, "X", p, 0)
    assert drop.evaluate(0).price == D(101)
    res = fallback.evaluate(0)
    assert res.price == D(102) and res.outliers == () and len(res.used) == 5


def test_too_few_sources_is_no_index():
    ix = IndexPrice("BTCUSDT", ["a", "b", "c"], min_sources=2, max_age_ms=1_000)
    assert codes_of(ix.evaluate, 0) == "no_index"  # nothing ticked yet
    ix.update("a", "BTCUSDT", "100", 0)
    ix.update("b", "BTCUSDT", "100", 500)
    assert ix.evaluate(1_000).price == D(100)
    with pytest.raises(PriceRejected) as info:
        ix.evaluate(1_200)  # a is 1.2 s old → one usable source
    assert info.value.code == "no_index"
    assert "stale: a" in str(info.value) and "never ticked: c" in str(info.value)


@pytest.mark.parametrize("bad", ["nan", "NaN", float("nan"), "inf", float("-inf"), 0, "-1", "1e19", True, "abc", None])
def test_index_rejects_invalid_price(bad):
    ix = IndexPrice("BTCUSDT", ["a"])
    ix.update("a", "BTCUSDT", "100", 0)
    assert codes_of(ix.update, "a", "BTCUSDT", bad, 1) == "invalid_price"
    assert ix.last("a").price == D(100) and ix.last("a").ts == 0


def test_index_rejects_out_of_order_unknown_and_bad_ts():
    ix = IndexPrice("BTCUSDT", ["a", "b"])
    ix.update("a", "BTCUSDT", "100", 2_000)
    assert codes_of(ix.update, "a", "BTCUSDT", "101", 1_999) == "out_of_order"
    ix.update("b", "BTCUSDT", "99", 1_000)  # other source: its own clock
    ix.update("a", "BTCUSDT", "102", 2_000)  # same ts replaces
    assert ix.last("a").price == D(102)
    assert codes_of(ix.update, "z", "BTCUSDT", "101", 3_000) == "unknown_source"
    assert codes_of(ix.update, "a", "ETHUSDT", "101", 3_000) == "unknown_symbol"
    for bad_ts in (-1, 1.5, "3000", True):
        assert codes_of(ix.update, "a", "BTCUSDT", "101", bad_ts) == "invalid_timestamp"
    book = IndexBook([ix, IndexPrice("ETHUSDT", ["a"])])
    book.update("a", "ETHUSDT", "3000", 0)
    assert book.evaluate("ETHUSDT", 0).price == D(3000)
    with pytest.raises(UnknownSymbol):
        book.update("a", "SOLUSDT", "1", 0)


def test_index_config_errors():
    assert codes_of(IndexPrice, "X", {"a": 0}) == "invalid_number"
    assert codes_of(IndexPrice, "X", []) == "invalid_input"
    assert codes_of(IndexPrice, "X", ["a"], min_sources=0) == "invalid_input"
    assert codes_of(IndexPrice, "X", ["a"], method="mean") == "invalid_input"
    assert codes_of(IndexPrice, "X", ["a"], outlier_band="-0.05") == "invalid_number"


# ---------------------------------------------------------------- basis averages


def test_basis_moving_average_window():
    ma = BasisMovingAverage(window_ms=300_000)
    assert ma.value(0) is None
    # (10,002 + 10,004)/2 − 10,000 = 3
    assert ma.observe_book("10002", "10004", "10000", 0) == D(3)
    ma.observe("1", 100_000)
    ma.observe("5", 200_000)
    assert ma.value(200_000) == D(3)  # (3 + 1 + 5)/3
    ma.observe("6", 300_000)  # the sample at 0 leaves the 5-minute window (0, 300,000]
    assert ma.value(300_000) == D(4)  # (1 + 5 + 6)/3
    assert codes_of(ma.observe, "1", 299_999) == "out_of_order"


def test_decaying_ema_hyperliquid_update():
    # τ = 150 s. Samples 10 @0, 20 @150 s, 30 @300 s; first counted as held 1 ms.
    # num = ((10·e⁻¹ + 20·150000)·e⁻¹ + 30·150000), den = ((1·e⁻¹ + 150000)·e⁻¹ + 150000)
    # ≈ (20/e + 30)/(1/e + 1) = (20 + 30e)/(1 + e) = 101.548455/3.718282 ≈ 27.3106
    e1 = math.exp(-1)
    num = (10 * e1 + 20 * 150_000) * e1 + 30 * 150_000
    den = (1 * e1 + 150_000) * e1 + 150_000
    ema = DecayingEma(tau_ms=150_000)
    assert ema.value is None
    assert ema.observe(10, 0) == D(10)
    ema.observe(20, 150_000)
    value = ema.observe(30, 300_000)
    assert abs(float(value) - num / den) < 1e-9
    assert abs(float(value) - 27.3106) < 1e-4


# ---------------------------------------------------------------- mark rules


def test_binance_price_1_v14():
    # V14: index 10,000, funding 0.03 %, 4 h of 8 h until funding → 10,000 × (1 + 0.0003 × 4/8) = 10,001.5
    inputs = MarkInputs(index="10000", funding_rate="0.0003", time_until_funding_ms=4 * 3600_000)
    assert BinanceMark().price_1(inputs) == D("10001.5")
    # 4-hour interval, 1 h left, 0.04 %: 10,000 × (1 + 0.0004 × 1/4) = 10,001
    inputs = MarkInputs(
        index="10000", funding_rate="0.0004", time_until_funding_ms=3600_000, funding_interval_ms=4 * 3600_000
    )
    assert BinanceMark().price_1(inputs) == D("10001")


@pytest.mark.parametrize(("last", "expected"), [("10002", D("10002")), ("10010", D("10003")), ("9990", D("10000.75"))])
def test_binance_mark_median(last, expected):
    # Index 10,000; funding 0.03 %; 2 h of 8 h to funding:
    #   Price 1 = 10,000 × (1 + 0.0003 × 2/8) = 10,000 × 1.000075 = 10,000.75
    # basis samples (mid − index): 10,003 − 10,000 = 3; 10,001.5 − 10,000 = 1.5; 10,004.5 − 10,000 = 4.5
    #   MA = (3 + 1.5 + 4.5)/3 = 3 → Price 2 = 10,003
    # mark = median(10,000.75, 10,003, last): last 10,002 → 10,002; 10,010 → 10,003; 9,990 → 10,000.75
    ma = BasisMovingAverage()
    ma.observe_book("10002", "10004", "10000", 0)
    ma.observe_book("10001", "10002", "10000", 5_000)
    ma.observe_book("10004", "10005", "10000", 10_000)
    basis = ma.value(10_000)
    assert basis == D(3)
    inputs = MarkInputs(
        index="10000", funding_rate="0.0003", time_until_funding_ms=2 * 3600_000, basis_ma=basis, last=last
    )
    assert BinanceMark().mark(inputs) == expected


def test_time_until_funding():
    # 05:30 UTC → next funding 08:00 is 2.5 h away; at 08:00 exactly the next is 16:00
    h = 3600_000
    assert time_until_funding(86_400_000 * 3 + 5 * h + h // 2, 8 * h) == 5 * h // 2
    assert time_until_funding(8 * h, 8 * h) == 8 * h


def test_binance_mark_missing_and_bad_inputs():
    rule = BinanceMark()
    full = {"index": "100", "funding_rate": "0.0001", "time_until_funding_ms": 1, "basis_ma": "0", "last": "100"}
    for missing in full:
        with pytest.raises(PriceRejected) as info:
            rule.mark(MarkInputs(**{k: v for k, v in full.items() if k != missing}))
        assert info.value.code == "missing_input" and info.value.field == missing
    assert codes_of(rule.mark, MarkInputs(**{**full, "index": "nan"})) == "invalid_price"
    assert codes_of(rule.mark, MarkInputs(**{**full, "time_until_funding_ms": 9 * 3600_000})) == "invalid_timestamp"


def test_hyperliquid_median_of_three():
    # (a) oracle 100.00 + EMA basis 0.05 = 100.05
    # (b) median(bid 100.00, ask 100.10, last 100.30) = 100.10
    # (c) CEX marks weighted 3/2/2 (total 7, half 3.5): bybit 100.02 (cum 2), binance 100.08 (cum 5) → 100.08
    # mark = median(100.05, 100.10, 100.08) = 100.08
    base = {"oracle": "100.00", "oracle_basis_ema": "0.05"}
    base |= {"best_bid": "100.00", "best_ask": "100.10", "last": "100.30"}
    inputs = MarkInputs(**base, cex_marks={"binance": "100.08", "okx": "100.20", "bybit": "100.02"})
    assert HyperliquidMark().mark(inputs) == D("100.08")
    # no CEX marks: the 30 s book EMA 100.07 is the third input → median(100.05, 100.10, 100.07) = 100.07
    assert HyperliquidMark().mark(MarkInputs(**base, book_ema="100.07")) == D("100.07")
    assert codes_of(HyperliquidMark().mark, MarkInputs(**base)) == "missing_input"
    assert codes_of(HyperliquidMark().mark, MarkInputs(**base, cex_marks={"ftx": "100"})) == "unknown_source"


def test_given_mark():
    assert GivenMark().mark(MarkInputs(given="123.45")) == D("123.45")
    assert codes_of(GivenMark().mark, MarkInputs()) == "missing_input"
    assert codes_of(GivenMark().mark, MarkInputs(given="-1")) == "invalid_price"


# ---------------------------------------------------------------- mark feed


def test_feed_accepts_and_links_previous():
    feed = MarkFeed(["BTCUSDT", "ETHUSDT"])
    first = feed.accept("BTCUSDT", "30000", 1_000)
    assert first.previous is None and first.price == D(30000) and not first.clamped
    second = feed.accept("BTCUSDT", "30100.5", 2_000, tick_id="t2")
    assert second.previous == D(30000) and second.price == D("30100.5") and second.tick_id == "t2"
    assert second.to_event() == ("mark", {"symbol": "BTCUSDT", "price": "30100.5"})
    assert feed.accept("ETHUSDT", "1E+3", 1).to_event() == ("mark", {"symbol": "ETHUSDT", "price": "1000"})
    assert feed.last("BTCUSDT") == second


@pytest.mark.parametrize(
    ("args", "kwargs", "code"),
    [
        (("SOLUSDT", "100", 5_000), {}, "unknown_symbol"),
        (("BTCUSDT", "nan", 5_000), {}, "invalid_price"),
        (("BTCUSDT", float("inf"), 5_000), {}, "invalid_price"),
        (("BTCUSDT", "0", 5_000), {}, "invalid_price"),
        (("BTCUSDT", "-100", 5_000), {}, "invalid_price"),
        (("BTCUSDT", "1e19", 5_000), {}, "invalid_price"),
        (("BTCUSDT", "100", 4_000), {}, "out_of_order"),  # equal ts
        (("BTCUSDT", "100", 3_999), {}, "out_of_order"),
        (("BTCUSDT", "100", 5_000), {"tick_id": 7}, "duplicate"),
        (("BTCUSDT", "100", 5_000), {"now": 16_000}, "stale"),  # 5,000 < 16,000 − 10,000
        (("BTCUSDT", "100", "5000"), {}, "invalid_timestamp"),
        (("BTCUSDT", "100", 5_000), {"now": -1}, "invalid_timestamp"),
    ],
)
def test_feed_rejections_leave_state_untouched(args, kwargs, code):
    feed = MarkFeed(["BTCUSDT"])
    last = feed.accept("BTCUSDT", "100", 4_000, tick_id=7)
    with pytest.raises(PriceRejected) as info:
        feed.accept(*args, **kwargs)
    assert info.value.code == code
    assert feed.last("BTCUSDT") is last


def test_feed_stale_boundary():
    feed = MarkFeed(["X"], max_age_ms=10_000)
    # 5,000 is exactly now − max_age → not stale
    assert feed.accept("X", "100", 5_000, now=15_000).price == D(100)
    assert codes_of(feed.accept, "X", "100", 5_001, now=15_002) == "stale"


def test_circuit_breaker_clamp_default():
    feed = MarkFeed(["BTCUSDT"], max_move="0.10")
    feed.accept("BTCUSDT", "100", 1)
    # +15 % from 100: band [90, 110] → clamped to 110
    up = feed.accept("BTCUSDT", "115", 2)
    assert up.price == D(110) and up.clamped and up.requested == D(115) and up.previous == D(100)
    # 95 from 110: band [99, 121] → clamped to 99
    down = feed.accept("BTCUSDT", "95", 3)
    assert down.price == D(99) and down.clamped and down.requested == D(95)
    # exactly on the edge: 99 × 1.1 = 108.9 is accepted unclamped
    edge = feed.accept("BTCUSDT", "108.9", 4)
    assert edge.price == D("108.9") and not edge.clamped


def test_circuit_breaker_reject():
    feed = MarkFeed(["BTCUSDT"], max_move="0.10", breaker=BreakerMode.REJECT)
    last = feed.accept("BTCUSDT", "100", 1)
    assert codes_of(feed.accept, "BTCUSDT", "110.01", 2) == "circuit_breaker"
    assert codes_of(feed.accept, "BTCUSDT", "89.99", 2) == "circuit_breaker"
    assert feed.last("BTCUSDT") is last
    assert feed.accept("BTCUSDT", "110", 2).price == D(110)


def test_clamp_edge_rounds_inwards_to_tick():
    feed = MarkFeed(["X"], tick_sizes={"X": "0.5"})
    feed.seed("X", "101.3", 0)
    # band [101.3 × 0.9, 101.3 × 1.1] = [91.17, 111.43] → on the 0.5 grid inside: 91.5 and 111.0
    assert feed.accept("X", "200", 1).price == D("111.0")
    feed.seed("X", "101.3", 1)
    assert feed.accept("X", "50", 2).price == D("91.5")


def test_computed_mark_rounded_to_tick():
    # Index 10,000, funding 0.01 %, 3 h of 8 h: Price 1 = 10,000 × (1 + 0.0001 × 3/8) = 10,000.375
    # Price 2 = 10,000 + 0.5 = 10,000.5; last 10,000.2 → median 10,000.375 → tick 0.01, nearest (half up) 10,000.38
    feed = MarkFeed(["BTCUSDT", "ETHUSDT"], rules={"BTCUSDT": BinanceMark()}, tick_sizes={"BTCUSDT": "0.01"})
    inputs = MarkInputs(
        index="10000", funding_rate="0.0001", time_until_funding_ms=3 * 3600_000, basis_ma="0.5", last="10000.2"
    )
    tick = feed.accept_computed("BTCUSDT", inputs, 1)
    assert tick.price == D("10000.38") and not tick.clamped
    # ETHUSDT has the default "mark given" rule and no tick size: the posted mark as is
    assert feed.accept_computed("ETHUSDT", MarkInputs(given="3000.123"), 1).price == D("3000.123")
    assert codes_of(feed.accept_computed, "BTCUSDT", MarkInputs(index="10000"), 2) == "missing_input"
    assert feed.last("BTCUSDT") is tick


def test_computed_mark_rounding_to_zero_is_invalid():
    # 0.004 to the nearest 0.01 is 0.00 → not a price
    feed = MarkFeed(["X"], tick_sizes={"X": "0.01"})
    assert codes_of(feed.accept_computed, "X", MarkInputs(given="0.004"), 1) == "invalid_price"


def test_duplicate_window_is_bounded():
    feed = MarkFeed(["X"], dedupe_window=2)
    feed.accept("X", "100", 1, tick_id="a")
    feed.accept("X", "100", 2, tick_id="b")
    assert codes_of(feed.accept, "X", "100", 3, tick_id="a") == "duplicate"
    feed.accept("X", "100", 3, tick_id="c")  # "a" falls out of the 2-id window
    assert feed.accept("X", "100", 4, tick_id="a").tick_id == "a"


def test_feed_config_errors():
    assert codes_of(MarkFeed, ["X"], max_move="1") == "invalid_input"
    assert codes_of(MarkFeed, ["X"], max_move="0") == "invalid_number"
    assert codes_of(MarkFeed, ["X"], tick_sizes={"Y": "0.1"}) == "unknown_symbol"
    assert codes_of(MarkFeed, ["X"], rules={"Y": GivenMark()}) == "unknown_symbol"
    assert codes_of(MarkFeed, ["X"], breaker="maybe") == "invalid_input"
    assert MarkFeed(["X"], breaker="reject").breaker is BreakerMode.REJECT


def test_replaying_accepted_marks_reproduces_them():
    feed = MarkFeed(["X"])
    accepted = [feed.accept("X", p, ts) for ts, p in enumerate(["100", "130", "70", "101", "99.5"], start=1)]
    replay = MarkFeed(["X"])
    again = [replay.accept("X", t.price, t.ts) for t in accepted]
    assert [t.price for t in again] == [t.price for t in accepted]
    assert [t.price for t in accepted] == [D(100), D("110.0"), D("99.00"), D(101), D("99.5")]
