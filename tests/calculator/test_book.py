"""Whole books (`margincall.calculator.book`): every row gives the numbers of its account's scenario through the
calculator (`calc --json`'s code), rounded as the book documents, whatever the chunk size and the file format; bad
rows are reported by row and field while the rest are priced; an ungrouped book is refused."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from margincall.calculator.book import BookError, BookInstruments, DecimalEvaluator, price_book
from margincall.calculator.book_compiled import CompiledEvaluator
from margincall.calculator.book_groups import UngroupedBook
from margincall.calculator.book_io import BookFileError, open_book
from margincall.model.errors import MarginCallError
from support.books import COLUMNS, INSTRUMENTS, expected_rows, mixed_book, same

RESULTS = ["liquidation_price", "bankruptcy_price", "initial_margin", "maintenance_margin", "margin_ratio",
           "distance_to_liquidation"]  # fmt: skip


def _write_csv(path: Path, rows: list[dict[str, str]], columns: list[str] = COLUMNS) -> Path:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)
    return path


EVALUATORS = {"decimal": DecimalEvaluator, "compiled": CompiledEvaluator}
_evaluator: list[type[DecimalEvaluator] | type[CompiledEvaluator]] = [DecimalEvaluator]


@pytest.fixture(autouse=True, params=sorted(EVALUATORS))
def _each_evaluator(request: pytest.FixtureRequest) -> None:
    """Every test of the book face runs with the reference and with the compiled evaluator: same rows."""
    _evaluator[0] = EVALUATORS[request.param]


def _price(path: Path, chunk: int = 1000, instruments: dict | None = INSTRUMENTS, strict: bool = False):
    evaluator = _evaluator[0](BookInstruments(instruments))
    chunks = list(price_book(open_book(path, chunk), evaluator, strict=strict))
    rows = [r for c in chunks for r in c.batch.to_pylist()]
    return rows, [e for c in chunks for e in c.errors]


@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_each_row_is_its_accounts_scenario_through_calc(tmp_path: Path, chunk: int) -> None:
    rows = mixed_book(60)
    venues = {r["venue"] for r in rows}
    assert len(venues) == 9 and {r["margin_mode"] for r in rows} == {"cross", "isolated"}
    assert max(sum(1 for r in rows if r["account"] == a) for a in {r["account"] for r in rows}) >= 3
    got, errors = _price(_write_csv(tmp_path / "book.csv", rows), chunk)
    want = expected_rows(rows)
    assert len(got) == len(rows)
    priced = 0
    for n, (row, exp, inp) in enumerate(zip(got, want, rows, strict=True), start=1):
        assert {k: row[k] for k in COLUMNS} == inp  # the input row comes back as it was
        if exp is None:
            assert row["error"] is not None and all(row[k] is None for k in RESULTS), n
            continue
        priced += 1
        assert row["error"] is None, (n, row["error"])
        for k in RESULTS:
            assert same(row[k], exp[k]), (n, k, row[k], exp[k])
    assert priced >= 0.9 * len(rows)
    assert len(errors) == sum(1 for e in want if e is None)


def test_the_three_formats_read_and_give_the_same_rows(tmp_path: Path) -> None:
    rows = mixed_book(20, seed=3)
    base, _ = _price(_write_csv(tmp_path / "b.csv", rows))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "b.parquet")
    (tmp_path / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for name in ("b.parquet", "b.jsonl"):
        other, _ = _price(tmp_path / name, chunk=5)
        assert other == base, name


def test_parquet_numbers_are_read_by_their_shortest_text(tmp_path: Path) -> None:
    # 0.1 as a double is 0.1000000000000000055…; the book reads it as the 0.1 written.
    table = pa.table(
        {
            "account": ["a"],
            "venue": ["binance-usdm"],
            "symbol": ["ETHUSDT"],
            "side": ["long"],
            "size": [0.1],
            "entry_price": [3000.0],
            "leverage": [10],
            "margin_mode": ["isolated"],
        }
    )
    pq.write_table(table, tmp_path / "b.parquet")
    (row,), _ = _price(tmp_path / "b.parquet")
    # IM = 0.1 × 3,000 / 10 = 30; MM = 300 × 0.4 % (first Binance ETH bracket, 2024-10-24) = 1.2
    assert row["initial_margin"] == "30" and row["maintenance_margin"] == "1.2"


def test_a_bad_row_names_its_row_and_field_and_the_rest_is_priced(tmp_path: Path) -> None:
    rows = mixed_book(6, seed=11)
    accounts = [r["account"] for r in rows]
    bad = accounts.index(accounts[-1])  # the first row of the last account
    good, _ = _price(_write_csv(tmp_path / "good.csv", rows))
    rows[bad]["leverage"] = "ten"
    got, errors = _price(_write_csv(tmp_path / "b.csv", rows))
    assert [str(e) for e in errors] == [f"row {bad + 1}: leverage: 'ten' is not a number"]
    for n, row in enumerate(got):
        if row["account"] == accounts[-1] and n != bad:
            assert row["error"] == f"row {n + 1}: not priced: row {bad + 1} of account {accounts[-1]!r} on " \
                                   f"{rows[n]['venue']} is bad"  # fmt: skip
        elif n != bad:
            assert row == good[n]  # the other accounts are priced as without the bad row


def test_strict_stops_at_the_first_bad_row(tmp_path: Path) -> None:
    rows = mixed_book(4, seed=5)
    rows[2]["side"] = "up"
    with pytest.raises(BookError, match=r"row 3: side: Input should be 'long' or 'short'"):
        _price(_write_csv(tmp_path / "b.csv", rows), strict=True)


def test_strict_reports_the_first_bad_row_while_later_chunks_are_priced_beside_it(tmp_path: Path) -> None:
    # chunks of 2 rows priced on two threads: the later bad row's chunk may finish first, its error never wins
    rows = mixed_book(40, seed=5)
    rows[4]["side"] = "up"
    rows[30]["size"] = "lots"
    with pytest.raises(BookError, match=r"row 5: side: Input should be 'long' or 'short'"):
        _price(_write_csv(tmp_path / "b.csv", rows), chunk=2, strict=True)


def test_rows_of_an_account_disagreeing_on_the_wallet_are_an_error(tmp_path: Path) -> None:
    base = dict.fromkeys(COLUMNS, "")
    base.update(account="x", venue="binance-usdm", symbol="BTCUSDT", side="long", size="0.01", entry_price="60000",
                margin_mode="cross", leverage="10", wallet_balance="1000")  # fmt: skip
    rows = [base, {**base, "symbol": "ETHUSDT", "entry_price": "3000", "wallet_balance": "999"}]
    got, errors = _price(_write_csv(tmp_path / "b.csv", rows))
    assert [str(e) for e in errors] == [
        "row 2: wallet_balance: 999 disagrees with 1000 on the earlier rows of account 'x' on binance-usdm"
    ]
    assert got[0]["error"].startswith("row 1: not priced: row 2")


def test_an_error_of_the_scenario_lands_on_the_row_it_names(tmp_path: Path) -> None:
    base = dict.fromkeys(COLUMNS, "")
    base.update(account="x", venue="binance-usdm", symbol="BTCUSDT", side="long", size="0.01", entry_price="60000",
                margin_mode="cross", leverage="10", wallet_balance="1000")  # fmt: skip
    rows = [base, {**base, "symbol": "ETHUSDT", "entry_price": "3000", "leverage": "500"}]
    _, errors = _price(_write_csv(tmp_path / "b.csv", rows))
    assert len(errors) == 1 and errors[0].row == 2 and errors[0].field == "leverage"
    assert "above the tier's max" in errors[0].message


def test_an_account_that_comes_back_after_another_is_refused(tmp_path: Path) -> None:
    rows = mixed_book(5, seed=2)
    first = [r for r in rows if r["account"] == "acct0"]
    path = _write_csv(tmp_path / "b.csv", [*rows, first[0]])
    for chunk in (2, 1000):
        with pytest.raises(UngroupedBook, match=rf"row {len(rows) + 1}: account 'acct0' on binance-usdm appears"):
            _price(path, chunk)


def test_a_book_without_a_required_column_or_with_an_unusable_one_is_refused(tmp_path: Path) -> None:
    row = {"account": "a", "venue": "okx", "symbol": "ETH-USDT-SWAP", "side": "long", "size": "1",
           "entry_price": "3000"}  # fmt: skip
    with pytest.raises(BookError, match="missing column leverage"):
        _price(_write_csv(tmp_path / "a.csv", [row], list(row)))
    row2 = {**row, "leverage": "5", "target_liquidation_price": "2000"}
    with pytest.raises(BookError, match="column target_liquidation_price: not used in a book"):
        _price(_write_csv(tmp_path / "b.csv", [row2], list(row2)))
    with pytest.raises(BookFileError, match="no known extension"):
        open_book(tmp_path / "b.txt", 10)


def test_an_instruments_file_is_checked_when_read() -> None:
    with pytest.raises(MarginCallError, match=r"instruments.venues.bitunix.BTCUSDT.tick_size"):
        BookInstruments({"venues": {"bitunix": {"BTCUSDT": {"tick_size": "x"}}}})
    with pytest.raises(MarginCallError, match="unknown venue 'nowhere'"):
        BookInstruments({"venues": {"nowhere": {}}})


def test_strict_reports_the_first_bad_row_in_book_order(tmp_path: Path) -> None:
    base = dict.fromkeys(COLUMNS, "")
    base.update(account="x", venue="binance-usdm", symbol="BTCUSDT", side="long", size="0.01", entry_price="60000",
                margin_mode="isolated", leverage="500")  # fmt: skip
    later = {**base, "account": "y", "leverage": "5", "size": "-1"}
    with pytest.raises(BookError, match=r"row 1: leverage: leverage 500 is above the tier's max"):
        _price(_write_csv(tmp_path / "b.csv", [base, later]), strict=True)


def test_a_book_of_no_rows_still_has_its_columns_checked(tmp_path: Path) -> None:
    assert _price(_write_csv(tmp_path / "ok.csv", [])) == ([], [])
    with pytest.raises(BookError, match="missing column leverage"):
        _price(_write_csv(tmp_path / "bad.csv", [], [c for c in COLUMNS if c != "leverage"]))


def test_a_binance_isolated_long_priced_by_hand(tmp_path: Path) -> None:
    row = dict.fromkeys(COLUMNS, "")
    row.update(account="A", venue="binance-usdm", symbol="BTCUSDT", side="long", size="0.5", entry_price="60000",
               margin_mode="isolated", leverage="10")  # fmt: skip
    (got,), errors = _price(_write_csv(tmp_path / "b.csv", [row]))
    # Notional 30,000 in the first 2024 bracket (MMR 0.4 %, cum 0): MM 120, IM = WB = 3,000.
    # LP = (WB + cum − Q·EP) / (Q·MMR − Q) = (3,000 − 30,000) / (0.002 − 0.5) = 54,216.867… → 54,216.9 (nearest 0.1)
    # BP = EP − WB/Q = 54,000; ratio = MM / (WB + PnL) = 120 / 3,000 = 0.04 (mark = entry);
    # distance = (60,000 − 54,216.867…) / 60,000 × 100 = 9.63855… % → 9.6385 (toward zero)
    assert errors == []
    assert {k: got[k] for k in RESULTS} == {"liquidation_price": "54216.9", "bankruptcy_price": "54000",
                                            "initial_margin": "3000", "maintenance_margin": "120",
                                            "margin_ratio": "0.04", "distance_to_liquidation": "9.6385"}  # fmt: skip


def test_a_taker_fee_column_is_the_accounts_scenario_fee(tmp_path: Path) -> None:
    row = dict.fromkeys([*COLUMNS, "taker_fee"], "")
    row.update(account="f", venue="bybit-linear", symbol="BTCUSDT", side="long", size="1", entry_price="60000",
               margin_mode="isolated", leverage="20", taker_fee="0.00055")  # fmt: skip
    other = {**row, "account": "g", "taker_fee": ""}
    (with_fee, without), errors = _price(_write_csv(tmp_path / "b.csv", [row, other], list(row)))
    assert errors == []
    # Bybit 2026 UTA form, tier 1 (MMR 0.5 %): MM = 300 + 60,000 × (1 − 1/20) × 0.055 % = 331.35 with the fee
    assert with_fee["maintenance_margin"] == "331.35" and without["maintenance_margin"] == "300"
    clash = {**row, "symbol": "ETHUSDT", "taker_fee": "0.0006"}
    _, errors = _price(_write_csv(tmp_path / "c.csv", [row, clash], list(row)))
    assert str(errors[0]).startswith("row 2: taker_fee: 0.0006 disagrees with 0.00055")


def test_instruments_no_row_uses_are_named() -> None:
    inst = BookInstruments({"SOLUSDT": {"mmr": "0.01"}, "venues": {"bitunix": {"BTCUSDT": {"mmr": "0.004"}}}})
    assert inst.for_symbols("bitunix", {"BTCUSDT", "XRPUSDT"}).keys() == {"BTCUSDT"}
    assert inst.unused() == ["instruments.SOLUSDT"]


def test_json_lines_whose_types_change_between_blocks_are_read_as_text(tmp_path: Path) -> None:
    # pyarrow reads JSON lines by blocks of 4 MiB and infers each block's types: `size` is an integer in the first
    # block and a float in the second. Read as text, both blocks give the numbers as written.
    lines = [json.dumps({"account": f"a{i}", "size": 1 if i < 60_000 else 0.5, "wallet_balance": None, "pad": "x" * 20})
             for i in range(80_000)]  # fmt: skip
    path = tmp_path / "b.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size > 4 << 20
    batches = list(open_book(path, 100_000).batches())
    sizes = [v for b in batches for v in b.column("size").to_pylist()]
    assert sizes == ["1"] * 60_000 + ["0.5"] * 20_000
    assert {str(t) for b in batches for t in b.schema.types} == {"string"}
