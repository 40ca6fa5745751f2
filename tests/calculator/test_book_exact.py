"""IM and MM decided in integers from a book's decimal text (`margincall.calculator.book_exact`): with formulas,
taker fees and values exactly on a unit or a tier floor, the compiled evaluator's rows are still the reference's
cell by cell, and the integer path — not the reference — settles the IM and MM of the linear rows."""

from __future__ import annotations

import csv
import random
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from margincall.calculator.book import BookInstruments, Chunk, DecimalEvaluator, price_book
from margincall.calculator.book_arrays import CEIL, FLOOR, HALF_UP, chunk_arrays, unit_parts
from margincall.calculator.book_compiled import CompiledEvaluator
from margincall.calculator.book_exact import exact_margins, scaled_ints
from margincall.calculator.book_groups import account_runs
from margincall.calculator.book_io import open_book
from margincall.calculator.book_isolated import exact_isolated_liquidation
from margincall.calculator.evaluate import evaluate, instrument_of
from margincall.calculator.scenario import Scenario
from margincall.math.book_exact import isolated_bankruptcy_ticks
from margincall.model.enums import PriceRounding
from margincall.model.errors import MarginCallError
from margincall.venues.profiles import get_venue
from support.books import COLUMNS, INSTRUMENTS, mixed_book

FORMULAS = {"bybit-linear": ["2026", "2024", "legacy"]}
TAKER = {"bybit-linear": "0.00055", "okx": "0.0005", "bitunix": "0.0006"}


def _book(tmp_path: Path, seed: int) -> Path:
    rng = random.Random(seed)
    rows = mixed_book(120, seed=seed)
    # per account: a formula and a taker fee on some (one per account, repeated on its rows)
    extra: dict[str, dict[str, str]] = {}
    for r in rows:
        if r["account"] not in extra:
            e = extra[r["account"]] = {"formula": "", "taker_fee": ""}
            if r["venue"] in FORMULAS and rng.random() < 0.7:
                e["formula"] = rng.choice(FORMULAS[r["venue"]])
            if r["venue"] in TAKER and rng.random() < 0.5:
                e["taker_fee"] = TAKER[r["venue"]]
        r.update(extra[r["account"]])
    # values on a boundary: Binance BTCUSDT's notional exactly on its 50,000 floor at 3x (IM 16,666.666…),
    # a whole-unit IM, OKX on its 3,000-contract floor (caps inclusive), Bitunix on its 200,000 floor at entry
    edge = [
        ("binance-usdm", "BTCUSDT", "1", "50000", "50000", "3"),
        ("binance-usdm", "BTCUSDT", "0.002", "60000", "60000", "5"),
        ("okx", "ETH-USDT-SWAP", "3000", "3000", "3000.1", "10"),
        ("bitunix", "BTCUSDT", "4", "50000", "49000", "10"),
        ("hyperliquid", "SOL", "10", "150", "150", "2"),
    ]
    # ratios of thousands (a small MM against a large equity): ~10^11 units of 1e-8, beyond a float's reach
    ratio = [("okx", "ETH-USDT-SWAP", "1", "3000.5", "3010.2", "5"), ("hyperliquid", "BTC", "0.001", "60000",
              "60100", "3"), ("dydx", "ETH-USD", "0.01", "3000.1", "2990", "2"), ("bitunix", "BTCUSDT", "0.002",
              "61000", "61000.1", "10"), ("binance-usdm", "BTCUSDT", "0.001", "60000", "60000.1", "1")]
    # inverse isolated rows, whose bankruptcy price EP·L/(L ± 1) and ratio pass through 1/P: the reference's own
    # Decimals (60,000 · 3/4 = 45,000 long at 3x; 50,000 · 2/1 = 100,000 short at 2x)
    inverse = [("binance-coinm", "BTCUSD_PERP", "100", "60000", "60000", "3"), ("bybit-inverse", "BTCUSD", "1000",
                "50000", "50000", "2"), ("binance-coinm", "BTCUSD_PERP", "300", "60000", "59000", "4")]
    for i, (venue, symbol, size, entry, mark, lev) in enumerate(inverse):
        row = dict.fromkeys(COLUMNS, "")
        row.update(account=f"inverse{i}", venue=venue, symbol=symbol, side="long" if i % 2 == 0 else "short",
                   size=size, entry_price=entry, mark_price=mark, margin_mode="isolated", leverage=lev,
                   wallet_balance="1", formula="", taker_fee="")  # fmt: skip
        rows.append(row)
    for i, (venue, symbol, size, entry, mark, lev) in enumerate(edge + ratio):
        row = dict.fromkeys(COLUMNS, "")
        row.update(account=f"edge{i}", venue=venue, symbol=symbol, side="long" if i % 2 else "short", size=size,
                   entry_price=entry, mark_price=mark, margin_mode="isolated" if i % 3 == 2 else "cross",
                   leverage=lev, wallet_balance="19999.99", formula="", taker_fee="")  # fmt: skip
        rows.append(row)
    # a cross account whose bankruptcy prices fall on whole ticks: BTC at 60,000 − (10,000 + 100) / 1 = 49,900,
    # (the short ETH leg gains 100 at its mark); ETH short at 3,000 + (10,000 + 0) / 1 = 13,000
    for symbol, side, entry, mark in (("BTCUSDT", "long", "60000", "60000"), ("ETHUSDT", "short", "3000", "2900")):
        row = dict.fromkeys(COLUMNS, "")
        row.update(account="ticks", venue="binance-usdm", symbol=symbol, side=side, size="1", entry_price=entry,
                   mark_price=mark, margin_mode="cross", leverage="5", wallet_balance="10000", formula="",
                   taker_fee="")  # fmt: skip
        rows.append(row)
    # a ratio exactly on a unit: OKX equity / MM = 30,000 / (10 × 0.1 × 3,000 × 0.004 = 12) = 2,500
    row = dict.fromkeys(COLUMNS, "")
    row.update(account="whole", venue="okx", symbol="ETH-USDT-SWAP", side="long", size="10", entry_price="3000",
               mark_price="3000", margin_mode="cross", leverage="5", wallet_balance="30000", formula="",
               taker_fee="")  # fmt: skip
    rows.append(row)
    path = tmp_path / "book.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[*COLUMNS, "formula", "taker_fee"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def _rows(path: Path, evaluator: DecimalEvaluator | CompiledEvaluator) -> list[dict[str, object]]:
    return [r for c in price_book(open_book(path, 97), evaluator) for r in c.batch.to_pylist()]


def test_books_with_formulas_fees_and_boundary_values_give_the_references_rows(tmp_path: Path) -> None:
    for seed in (4, 5):
        path = _book(tmp_path, seed)
        want = _rows(path, DecimalEvaluator(BookInstruments(INSTRUMENTS)))
        compiled = CompiledEvaluator(BookInstruments(INSTRUMENTS))
        got = _rows(path, compiled)
        for n, (g, w_) in enumerate(zip(got, want, strict=True), start=1):
            assert g == w_, (n, {k: (g[k], w_[k]) for k in g if g[k] != w_[k]})
        assert compiled.exact_rows > 0 and compiled.exact_ratios > 0
    # the Binance floor row: MM = 50,000 × 0.005 − 50 = 200, IM = 50,000 / 3 up to 1e-8
    assert [r["bankruptcy_price"] for r in want if r["account"] == "ticks"] == ["49900", "13000"]
    assert [r["margin_ratio"] for r in want if r["account"] == "whole"] == ["2500"]
    assert [r["bankruptcy_price"] for r in want if str(r["account"]).startswith("inverse")][:2] == ["45000", "100000"]
    edges = [r for r in want if str(r["account"]).startswith("edge")]
    assert len(edges) == 10 and all(r["error"] is None for r in edges)
    edge = edges[0]
    assert edge["maintenance_margin"] == "200" and edge["initial_margin"] == "16666.66666667"


def test_linear_rows_of_plain_decimal_cells_are_settled_in_integers(tmp_path: Path) -> None:
    path = _book(tmp_path, 6)
    batch = next(iter(open_book(path, 10_000).batches()))
    starts, _ = account_runs(batch)
    chunk = Chunk(batch, 1, starts)
    arrays = chunk_arrays(chunk, BookInstruments(INSTRUMENTS))
    exact = exact_margins(chunk, arrays)
    linear = np.array([e[1].kind.value == "linear" for e in arrays.entries])[arrays.instrument]
    assert (exact.im_ok == linear).all()
    venues = np.array([e[0] for e in arrays.entries])[arrays.instrument]
    assert exact.mm_ok[venues == "binance-usdm"].all() and not exact.mm_ok[~linear].any()


def test_scaled_ints_read_the_texts_digits_and_refuse_what_is_not_a_plain_decimal() -> None:
    ints, d, ok = scaled_ints(pa.array(["1.5", " 20 ", "0.125", "1e3", "", "-2", "3.10"]), 7)
    # at 10^-3: 1500, 20000, 125, (refused), (empty), (negative: refused), 3100
    assert d == 3 and ok.tolist() == [True, True, True, False, False, False, True]
    assert ints[ok].tolist() == [1500, 20000, 125, 3100]


@settings(max_examples=150, deadline=None)
@given(
    market=st.sampled_from(
        [
            ("binance-usdm", "BTCUSDT"),
            ("hyperliquid", "SOL"),
            ("okx", "ETH-USDT-SWAP"),
            ("bybit-linear", "BTCUSDT"),
            ("dydx", "ETH-USD"),
        ]
    ),
    ticks=st.integers(1, 10**6),
    leverage=st.sampled_from(["1", "2", "3", "4", "5", "8", "10", "2.5", "20"]),
    long=st.booleans(),
)
def test_an_isolated_bankruptcy_price_in_integers_is_calcs(
    market: tuple[str, str], ticks: int, leverage: str, long: bool
) -> None:
    venue, symbol = market
    profile = get_venue(venue)
    spec = INSTRUMENTS["venues"].get(venue, {}).get(symbol)
    inst = instrument_of(profile, symbol, BookInstruments(INSTRUMENTS).for_symbols(venue, {symbol}).get(symbol))
    inverse = inst.kind.value == "inverse"
    # on a tick: the bankruptcy price EP·(1 ∓ 1/L), or EP·L/(L ± 1) for an inverse one, is often on one too
    entry = inst.tick_size * ticks
    scenario = Scenario.model_validate({"venue": venue, "wallet_balance": "0", "positions": [{
        "symbol": symbol, "side": "long" if long else "short", "size": "1", "entry_price": str(entry),
        "margin_mode": "isolated", "leverage": leverage}], "instruments": {symbol: spec} if spec else {}})  # fmt: skip
    try:
        want = evaluate(scenario).positions[0].bankruptcy_price
    except MarginCallError:
        return  # leverage above the tier's: a book row would carry the reference's error
    lev = Decimal(leverage)
    c, dt = unit_parts(inst.tick_size)
    mode = HALF_UP if profile.price_rounding is PriceRounding.NEAREST else (CEIL if long else FLOOR)
    k, ok = np.zeros(1, np.int64), np.zeros(1, np.bool_)
    isolated_bankruptcy_ticks(np.ones(1, np.bool_), np.array([inverse]), np.array([1 if long else -1]),
                              np.array([int(entry.scaleb(8))]),
                              8, np.array([int(lev.scaleb(1))]), 1, np.array([c]), np.array([dt]),
                              np.array([mode], np.int8), k, ok)  # fmt: skip
    if want is None:
        assert not ok[0]  # no price: a long at 1x (P = 0), a short inverse at 1x
        return
    if not ok[0]:
        assert inverse  # an inverse root exactly on a boundary: left to the reference's own Decimals
        return
    assert Decimal(int(k[0])) * inst.tick_size == want, (entry, leverage, long)


@settings(max_examples=60, deadline=None)
@given(
    market=st.sampled_from([("binance-usdm", "BTCUSDT", ""), ("hyperliquid", "SOL", ""), ("okx", "ETH-USDT-SWAP", ""),
                            ("bybit-linear", "BTCUSDT", "2024"), ("bybit-linear", "BTCUSDT", "legacy"),
                            ("dydx", "ETH-USD", ""), ("bitunix", "BTCUSDT", ""), ("binance-coinm", "BTCUSD_PERP", "")]),
    ticks=st.integers(10_000, 10**6),
    move=st.integers(-400, 400),
    leverage=st.sampled_from(["1", "2", "3", "5", "10", "2.5"]),
    long=st.booleans(),
)
def test_an_isolated_liquidation_price_by_the_rule_is_calcs(
    tmp_path_factory: pytest.TempPathFactory, market: tuple[str, str, str], ticks: int, move: int, leverage: str,
    long: bool
) -> None:  # fmt: skip
    venue, symbol, formula = market
    books = BookInstruments(INSTRUMENTS)
    inst = instrument_of(get_venue(venue), symbol, books.for_symbols(venue, {symbol}).get(symbol))
    entry = inst.tick_size * ticks
    mark = entry + inst.tick_size * move
    row = dict.fromkeys(COLUMNS, "")
    row.update(account="a", venue=venue, symbol=symbol, side="long" if long else "short", size="100",
               entry_price=str(entry), mark_price=str(mark), margin_mode="isolated", leverage=leverage,
               wallet_balance="0", formula=formula, taker_fee="")  # fmt: skip
    path = tmp_path_factory.mktemp("liq") / "book.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[*COLUMNS, "formula", "taker_fee"], extrasaction="ignore")
        w.writeheader()
        w.writerow(row)
    want = _rows(path, DecimalEvaluator(BookInstruments(INSTRUMENTS)))[0]
    if want["error"] is not None:
        return
    batch = next(iter(open_book(path, 10).batches()))
    chunk = Chunk(batch, 1, np.zeros(1, np.int64))
    arrays = chunk_arrays(chunk, BookInstruments(INSTRUMENTS))
    liq, dist, ok = exact_isolated_liquidation(arrays, exact_margins(chunk, arrays), np.ones(1, np.bool_))
    assert ok[0]
    got_liq = None if np.isnan(liq[0]) else format((Decimal(int(liq[0])) * inst.tick_size).normalize(), "f")
    got_dist = None if np.isnan(dist[0]) else format(Decimal(int(dist[0])).scaleb(-4).normalize(), "f")
    assert (got_liq, got_dist) == (want["liquidation_price"], want["distance_to_liquidation"]), row
