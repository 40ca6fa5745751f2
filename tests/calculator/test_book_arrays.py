"""The compiled path's side of whole books (`margincall.calculator.book_arrays`): a chunk as per-row arrays, the
accounts the arrays cannot carry marked for the reference, and the rounding of float values to their unit that
flags every value near a rounding boundary — so a float path, rounded and confirmed, gives the reference's rows."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import numpy as np

from margincall.calculator.book import BookInstruments, Chunk, DecimalEvaluator
from margincall.calculator.book_arrays import (
    CEIL,
    FLOOR,
    HALF_UP,
    TOWARD_ZERO,
    accounts_to_redo,
    chunk_arrays,
    exact_text,
    round_units,
)
from margincall.calculator.book_groups import account_runs
from margincall.calculator.book_io import open_book
from margincall.calculator.evaluate import evaluate
from support.books import COLUMNS, INSTRUMENTS, mixed_book


def test_round_units_rounds_each_way_and_flags_values_near_a_boundary() -> None:
    values = np.array([52078.53283, 52078.53283, 52078.55, 3164.11, -2.06819, np.nan])
    k, near = round_units(values, 0.1, np.array([CEIL, FLOOR, HALF_UP, CEIL, TOWARD_ZERO, CEIL], np.int8))
    # 520,785.3283 ticks: up 520,786, down 520,785; 520,785.5 is the half-up boundary itself (flagged);
    # 31,641.1 ticks up → 31,642; −20.6819 toward zero → −20
    assert k[:5].tolist() == [520786, 520785, 520786, 31642, -20] and np.isnan(k[5])
    assert near.tolist() == [False, False, True, False, False, False]
    # 3,164.11 at a 0.01 tick is a whole number of ticks: a float a hair above it would round up one tick
    _, near = round_units(np.array([3164.11, 3164.11 * (1 + 1e-13), 3164.115]), 0.01, CEIL)
    assert near.tolist() == [True, True, False]
    assert exact_text(np.array([520786.0, np.nan, -0.0]), Decimal("0.1")) == ["52078.6", None, "0"]


def _chunk(tmp_path: Path, rows: list[dict[str, str]]) -> Chunk:
    path = tmp_path / "b.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    batch = next(iter(open_book(path, 10_000).batches()))
    starts, _ = account_runs(batch)
    return Chunk(batch, 1, starts)


def test_chunk_arrays_carry_the_rows_and_mark_what_only_the_reference_can_price(tmp_path: Path) -> None:
    rows = mixed_book(30, seed=9)
    rows[0]["size"] = "lots"  # account 0: not a number
    rows[-1]["side"] = "sideways"  # the last account: not a side
    chunk = _chunk(tmp_path, rows)
    a = chunk_arrays(chunk, BookInstruments(INSTRUMENTS))
    assert a.exact[0] and a.exact[-1] and a.exact.sum() == 2
    assert np.isnan(a.size[0]) and np.isnan(a.side[-1])
    for i, r in enumerate(rows[1:-1], start=1):
        venue, inst, _, formula, fee = a.entries[a.instrument[i]]
        assert (venue, inst.symbol, formula, fee) == (r["venue"], r["symbol"], None, 0)
        assert a.size[i] == float(r["size"]) and a.side[i] == (1.0 if r["side"] == "long" else -1.0)
        assert a.cross[i] == (r["margin_mode"] == "cross")
        assert a.tick[i] == float(inst.tick_size)
        assert np.isnan(a.mark_price[i]) if r["mark_price"] == "" else a.mark_price[i] == float(r["mark_price"])
    assert a.account.tolist() == np.repeat(np.arange(len(chunk.starts)), np.diff([*chunk.starts, len(rows)])).tolist()


def test_a_float_path_rounded_and_confirmed_gives_the_references_rows(tmp_path: Path) -> None:
    """A stand-in for the compiled kernel: the calculator's unrounded values as floats, off by a relative 1e-13.
    Rounded by round_units, every value not flagged near a boundary is the reference's; the flagged ones' accounts
    are those the reference re-prices."""
    rows = mixed_book(80, seed=17)
    chunk = _chunk(tmp_path, rows)
    instruments = BookInstruments(INSTRUMENTS)
    ref = DecimalEvaluator(instruments)
    want = ref(chunk, strict=False).columns
    a = chunk_arrays(chunk, instruments)
    # the stand-in kernel
    lp, im, mm, ratio, dist = (np.full(len(rows), np.nan) for _ in range(5))  # (calc keeps no unrounded BP)
    for k, acc in enumerate(chunk.accounts()):
        res = evaluate(acc.scenario(instruments)).positions
        lo, _ = chunk.bounds(k)
        for j, p in enumerate(res):
            wobble = 1 + 1e-13 * (-1) ** (lo + j)
            for arr, v in ((lp, p.liquidation_price_unrounded), (im, p.initial_margin), (mm, p.maintenance_margin),
                           (ratio, p.margin_ratio), (dist, p.distance_to_liquidation_pct)):  # fmt: skip
                arr[lo + j] = np.nan if v is None else float(v) * wobble
    units = {"liquidation_price": (lp, a.tick, a.price_mode, None), "initial_margin": (im, 1e-8, CEIL, "1e-8"),
             "maintenance_margin": (mm, 1e-8, CEIL, "1e-8"), "margin_ratio": (ratio, 1e-8, a.ratio_mode, "1e-8"),
             "distance_to_liquidation": (dist, 1e-4, TOWARD_ZERO, "1e-4")}  # fmt: skip
    rounded, near = {}, {}
    for name, (vals, unit, mode, _) in units.items():
        rounded[name], near[name] = round_units(vals, unit, mode)
    redo = accounts_to_redo(a, near)
    assert a.exact.sum() == 0 and redo.any()
    # Each value the float path did not flag is rounded exactly as the reference rounds it.
    checked = dict.fromkeys(units, 0)
    for name, (_, _, _, unit) in units.items():
        for i in np.flatnonzero(~near[name]):
            step = Decimal(unit) if unit else a.entries[a.instrument[i]][1].tick_size
            assert exact_text(rounded[name][i : i + 1], step)[0] == want[name][i].as_py(), (i, name)
            checked[name] += 1
    # Prices and distances are seldom near a boundary; IM and MM at 1e-8 nearly always are (a value of a few
    # hundred has a 1e-9 band of tens of units, and decimal inputs often give a whole number of units).
    assert checked["liquidation_price"] >= 0.9 * len(rows) and checked["distance_to_liquidation"] >= 0.8 * len(rows)
