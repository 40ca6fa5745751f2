"""The synthetic market: deterministic, shaped as promised, and — run through the durable engine in-process —
producing margin calls, partial liquidations, insurance-fund payouts and ADL with money conserved."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from margincall.model.errors import MarginCallError
from margincall.risk.engine import EngineConfig
from margincall.sim import PathShape, SimConfig, SyntheticMarket, Tally, install, run_path
from margincall.sim.prices import on_tick
from margincall.store.engine import EngineFactory, open_engine
from margincall.store.journal import verify


@pytest.fixture(scope="module")
def small() -> SyntheticMarket:
    return SyntheticMarket(SimConfig(accounts=300, seed=7))


def test_short_run_has_every_kind_of_event_and_conserves_money(tmp_path, small):
    journal = open_engine(str(tmp_path / "sim.db"))
    try:
        n = install(journal, small, ts=1_000)
        assert n == journal.last_seq  # every setup event accepted
        t = run_path(journal, small, start_ts=2_000, step_ms=1_000)
        assert t.margin_calls > 0
        assert t.liquidations > 0
        assert t.partial_liquidations > 0
        assert t.insurance_payments > 0 and t.insurance_paid > 0
        assert t.adl > 0
        assert journal.ledger.ledger.conservation_error() is None
        # the margin calls come before the liquidations they warn about: the first one no later
        assert t.first_ts["margin_call"] <= t.first_ts["liquidation"]
        # the whole log replays into the same engine, event by event, with conservation after each
        report = verify(journal.log, EngineFactory(EngineConfig()))
        assert report.ok, report
        assert report.events == journal.last_seq
    finally:
        journal.log.close()


def test_install_is_idempotent(tmp_path, small):
    journal = open_engine(str(tmp_path / "sim.db"))
    try:
        install(journal, small, ts=1_000)
        seq = journal.last_seq
        install(journal, small, ts=1_000)  # same keys, same payloads: duplicates, nothing new
        assert journal.last_seq == seq
    finally:
        journal.log.close()


def test_same_seed_same_market_other_seed_other_market():
    a = SyntheticMarket(SimConfig(accounts=120, seed=3))
    b = SyntheticMarket(SimConfig(accounts=120, seed=3))
    c = SyntheticMarket(SimConfig(accounts=120, seed=4))
    assert a.traders == b.traders and a.path == b.path
    assert list(a.setup_events()) == list(b.setup_events())
    assert a.traders != c.traders and a.path != c.path


def test_path_drifts_crashes_15_to_25_percent_and_rebounds(small):
    shape = small.config.shape
    for symbol, path in small.path.items():
        assert len(path) == shape.steps
        tick = small.specs[symbol].instrument.tick_size
        assert all(p > 0 and p % tick == 0 for p in path)
        peak = path[shape.drift_steps - 1]
        bottom = path[shape.drift_steps + shape.crash_steps - 1]
        fall = (peak - bottom) / peak
        # depth drawn in [15 %, 25 %]; tick rounding of two prices moves it by at most 2 ticks / bottom
        slack = 2 * tick / bottom
        assert D("0.15") - slack <= fall <= D("0.25") + slack, (symbol, fall)
        assert min(path[shape.drift_steps:]) >= bottom * D("0.99")  # the crash ends at (about) its low
        assert path[-1] > bottom  # rebound


def test_population(small):
    retail = [t for t in small.traders if t.kind == "retail"]
    whales = [t for t in small.traders if t.kind == "whale"]
    makers = [t for t in small.traders if t.kind == "market_maker"]
    assert len(small.traders) == 300 and len(makers) == 4 and len(whales) == 6
    assert small.insurance_fund == 150  # 0.5 USDT per account
    assert all(D(2) <= h.leverage <= D(50) for t in retail for h in t.holdings)
    assert {t.margin_mode for t in retail} == {"cross", "isolated", "mixed"}
    for t in retail:
        modes = [h.margin_mode for h in t.holdings]
        assert modes == (["isolated", "cross"] if t.margin_mode == "mixed" else [t.margin_mode] * len(modes))
    assert {h.side for t in retail for h in t.holdings} == {"buy", "sell"}
    # whales sit in Binance BTCUSDT / ETHUSDT tier 3 or above: notional ≥ 600,000 (docs/venues.md §3.3 brackets)
    for w in whales:
        (h,) = w.holdings
        start = next(s.start for s in small.config.symbols if s.symbol == h.symbol)
        assert h.size * start >= 600_000
    # the market makers hold the opposite of everyone else: per symbol the net position is zero
    for s in small.config.symbols:
        net = sum((h.size if h.side == "buy" else -h.size) for t in small.traders for h in t.holdings
                  if h.symbol == s.symbol)
        assert net == 0, s.symbol


def test_tally_counts_worsening_margin_calls_only():
    t = Tally()
    t.add("margin_call", {"band": "warning", "previous_band": "healthy"}, None, 5)
    t.add("margin_call", {"band": "reduce_only", "previous_band": "warning"}, None, 6)
    t.add("margin_call", {"band": "healthy", "previous_band": "reduce_only"}, None, 7)
    t.add("bankruptcy_settlement", {}, {"insurance_paid": "12.5", "venue_absorbed": "0"}, 8)
    t.add("bankruptcy_settlement", {}, {"insurance_paid": "0", "venue_absorbed": "0"}, 9)
    assert (t.events, t.margin_calls, t.insurance_payments, t.insurance_paid) == (5, 2, 1, D("12.5"))
    assert t.first_ts == {"margin_call": 5, "insurance_paid": 8}


def test_on_tick_rounds_half_up_to_the_tick():
    assert on_tick(60294.44, D("0.10")) == D("60294.40")
    assert on_tick(60294.45, D("0.10")) == D("60294.50")
    assert on_tick(0.000001, D("0.01")) == D("0.01")  # never below one tick


@pytest.mark.parametrize(("kwargs", "field"), [({"accounts": 5}, "accounts"), ({"accounts": True}, "accounts"),
                                               ({"seed": "x"}, "seed"), ({"market_makers": 0}, "market_makers"),
                                               ({"insurance_fund": D(-1)}, "insurance_fund")])
def test_bad_config_names_the_field(kwargs, field):
    with pytest.raises(MarginCallError) as e:
        SimConfig(**kwargs)
    assert e.value.field == field


def test_bad_shape_and_step_are_refused(small):
    with pytest.raises(MarginCallError) as e:
        PathShape(crash_steps=0)
    assert e.value.field == "crash_steps"
    with pytest.raises(MarginCallError) as e:
        small.marks(small.steps)
    assert e.value.field == "step"


@pytest.mark.parametrize("seed", [1, 2, 3, 11])
def test_other_seeds_also_show_every_kind_of_event(tmp_path, seed):
    market = SyntheticMarket(SimConfig(accounts=200, seed=seed))
    journal = open_engine(str(tmp_path / "sim.db"))
    try:
        install(journal, market, ts=1_000)
        t = run_path(journal, market, start_ts=2_000)
        assert min(t.margin_calls, t.liquidations, t.partial_liquidations, t.insurance_payments, t.adl) > 0, t
        assert journal.ledger.ledger.conservation_error() is None
    finally:
        journal.log.close()
