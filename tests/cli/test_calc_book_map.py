"""``margincall calc --book FILE --map``: the book's liquidation map keyed by symbol and venue, rows with an error
left out and counted, the JSON and the HTML chart, the same map whatever the chunk size, and the refusals."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

from rich.console import Console

from margincall.cli.calc_book import run_book
from margincall.cli.calc_book_map import BookMap
from support.cli import run_cli

COLUMNS = ["account", "venue", "symbol", "side", "size", "entry_price", "mark_price", "margin_mode", "leverage",
           "wallet_balance"]  # fmt: skip
#: BTCUSDT on two venues, isolated and cross, and one bad row (its size).
ROWS = [
    # Binance isolated, MMR 0.4 %: long 1 @ 100 at 10x: LP = (100 − 10)/(1 − 0.004) = 90.3614… → 90.4 at the
    # nearest tick 0.1 (Binance rounds half up, docs/venues.md), BP 90; the short: LP = (100 + 10)/(1 + 0.004)
    # = 109.5617… → 109.6, BP 110
    ["a1", "binance-usdm", "BTCUSDT", "long", "1", "100", "100", "isolated", "10", "1000"],
    ["a1", "binance-usdm", "BTCUSDT", "short", "1", "100", "100", "isolated", "10", "1000"],
    # Bybit isolated long 3 @ 100 at 20x: IM 15, MM 0.5 % of 300 = 1.5: LP = 100 − (15 − 1.5)/3 = 95.5, BP 95
    ["a2", "bybit-linear", "BTCUSDT", "long", "3", "100", "100", "isolated", "20", "1000"],
    # Binance cross, wallet 50, long 2 @ 100: LP = (200 − 50)/(2 × 0.996) = 75.3012… → 75.3 (nearest tick),
    # BP = 100 − 50/2 = 75
    ["a3", "binance-usdm", "BTCUSDT", "long", "2", "100", "100", "cross", "10", "50"],
    ["a4", "binance-usdm", "BTCUSDT", "long", "x", "100", "100", "isolated", "10", "1000"],
]
BINANCE, BYBIT = "BTCUSDT · binance-usdm", "BTCUSDT · bybit-linear"


def _book(tmp_path: Path, rows: list[list[str]] = ROWS) -> Path:
    path = tmp_path / "book.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        w.writerows(rows)
    return path


def _calc_lps(rows: list[list[str]]) -> list[tuple[str, str]]:
    """(LP, BP) of each position through ``margincall calc --json`` of its account's scenario."""
    got = []
    for account in dict.fromkeys(r[0] for r in rows):
        group = [dict(zip(COLUMNS, r, strict=True)) for r in rows if r[0] == account]
        scenario = {"venue": group[0]["venue"], "wallet_balance": group[0]["wallet_balance"],
                    "positions": [{k: r[k] for k in COLUMNS[2:9]} for r in group]}  # fmt: skip
        proc = run_cli("calc", "--json", "-", stdin=json.dumps(scenario))
        assert proc.returncode == 0, proc.stderr
        got += [(p["liquidation_price"], p["bankruptcy_price"]) for p in json.loads(proc.stdout)["positions"]]
    return got


def test_the_hand_values_are_calc_json_s() -> None:
    lps = [(Decimal(lp), Decimal(bp)) for lp, bp in _calc_lps(ROWS[:4])]
    assert lps == [(Decimal("90.4"), 90), (Decimal("109.6"), 110), (Decimal("95.5"), 95), (Decimal("75.3"), 75)]


def test_map_json_keyed_by_symbol_and_venue_with_the_bad_row_left_out(tmp_path: Path) -> None:
    html = tmp_path / "map.html"
    proc = run_cli("calc", "--book", str(_book(tmp_path)), "--map", "--map-range", "0.3", "--map-steps", "3",
                   "--insurance-fund", "USDT=5", "--map-html", str(html), "--output-json")  # fmt: skip
    assert proc.returncode == 1  # the bad row, listed on stderr with the summary
    assert "row 5: size" in proc.stderr and "5 rows: 4 priced, 1 not (1 bad)" in proc.stderr
    data = json.loads(proc.stdout)  # stdout is the map alone
    assert data["rows"] == 4 and data["left_out"] == 1
    assert data["moves"] == ["-0.3", "-0.2", "-0.1", "0", "0.1", "0.2", "0.3"]
    by = {s["symbol"]: s for s in data["symbols"]}
    assert list(by) == [BINANCE, BYBIT]
    b = by[BINANCE]
    assert b["positions"] == 3 and b["prices"] == ["70", "80", "90", "100", "110", "120", "130"]
    # down: the cross long (LP 75.3) goes below 80, the isolated one (90.4) from −10 %;
    # notional at 70: 90.4 × 1 + 75.3 × 2 = 241; deficit (90 − 70) × 1 + (75 − 70) × 2 = 30, at 80: 10
    assert b["long_count"][:4] == [2, 1, 1, 0] and b["long_notional"][:3] == ["241", "90.4", "90.4"]
    # up: the short (LP 109.6, BP 110) from +10 %; deficit at 120: 10, at 130: 20
    assert b["short_count"][3:] == [0, 1, 1, 1] and b["short_notional"][4] == "109.6"
    assert b["deficit"] == ["30", "10", "0", "0", "0", "10", "20"]
    # the USDT fund of 5 against each move: 25, 5 and 15 left to ADL
    assert b["insurance_fund"] == "5" and b["shortfall"] == ["25", "5", "0", "0", "0", "5", "15"]
    y = by[BYBIT]
    # Bybit's long 3 (LP 95.5, BP 95): notional 286.5 from −10 %; deficit at 90: 3 × 5 = 15, at 70: 3 × 25 = 75
    assert y["long_count"][:3] == [1, 1, 1] and y["long_notional"][0] == "286.5"
    assert y["deficit"][:3] == ["75", "45", "15"] and y["shortfall"][:3] == ["70", "40", "10"]
    page = html.read_text()
    assert "<script src=" not in page and "http" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "bybit-linear" in page


def test_map_table_after_the_book_in_80_columns(tmp_path: Path) -> None:
    html = tmp_path / "map.html"
    proc = run_cli("calc", "--book", str(_book(tmp_path)), "--map", "--map-steps", "3", "--map-html", str(html))
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert lines.index(next(x for x in lines if x.startswith("5 rows: 4 priced"))) < lines.index(
        next(x for x in lines if x.startswith(BINANCE))
    )
    # no fund: the whole deficit goes to ADL; −30 % on Binance: 2 longs, 241.00, deficit 30.00
    assert ["-30.0", "%", "70", "2", "L", "241.00", "30.00", "30.00"] in [x.split() for x in lines]
    assert any(x.startswith(BYBIT) for x in lines)
    assert "1 row with an error left out of the map" in proc.stdout
    assert html.exists() and "BTCUSDT" in html.read_text()


def test_the_map_is_the_same_in_chunks_of_one_row(tmp_path: Path) -> None:
    book = str(_book(tmp_path))
    maps = []
    for chunk_rows in (1, 65_536):
        m = BookMap({"USDT": Decimal(5)}, "0.3", 3)
        run_book(book, None, None, strict=False, quiet=True, chunk_rows=chunk_rows, book_map=m,
                 console=Console(file=io.StringIO()))  # fmt: skip
        maps.append(m)
    a, b = (m.result() for m in maps)
    assert a == b and a.rows == 4 and maps[0].left_out == 1


def test_a_mark_unlike_its_symbol_s_names_the_book_row(tmp_path: Path) -> None:
    rows = [*ROWS[:2], ["a9", "binance-usdm", "BTCUSDT", "long", "1", "100", "101", "isolated", "10", "1000"]]
    proc = run_cli("calc", "--book", str(_book(tmp_path, rows)), "--map")
    assert proc.returncode == 2 and "row 3: mark_price" in proc.stderr


def test_map_flags_refused_without_map_or_book_and_bad_values_named(tmp_path: Path) -> None:
    book = str(_book(tmp_path, ROWS[:1]))
    for args, needle in (
        (["--book", book, "--map-html", "x.html"], "--map-html: used only with --map"),
        (["--book", book, "--insurance-fund", "USDT=5"], "--insurance-fund: used only with --map"),
        (["--book", book, "--map-steps", "3"], "--map-steps: used only with --map"),
        (["--book", book, "--output-json"], "--output-json: not used with --book"),
        (["--map", "--size", "1", "--entry", "100"], "--map: used only with --book"),
        (["--book", book, "--map", "--insurance-fund", "USDT=abc"], "--insurance-fund"),
        (["--book", book, "--map", "--insurance-fund", "USDT"], "--insurance-fund: expected ASSET=AMOUNT"),
        (["--book", book, "--map", "--insurance-fund", "USDT=-1"], "--insurance-fund: USDT: must be at least 0"),
        (["--book", book, "--map", "--insurance-fund", "USDT=1", "--insurance-fund", "USDT=2"], "given twice"),
        (["--book", book, "--map", "--map-range", "2"], "--map-range"),
        (["--book", book, "--map", "--map-steps", "0"], "--map-steps"),
    ):
        proc = run_cli("calc", *args)
        assert proc.returncode == 2 and needle in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr


def test_a_book_without_mark_price_maps_at_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "nomark.csv"
    path.write_text(
        "account,venue,symbol,side,size,entry_price,leverage,margin_mode\n"
        "a1,bybit-linear,BTCUSDT,long,3,100,20,isolated\n"
    )
    proc = run_cli("calc", "--book", str(path), "--map", "--map-steps", "1", "--output-json")
    assert proc.returncode == 0, proc.stderr
    (s,) = json.loads(proc.stdout)["symbols"]
    # mark 100 (the entry); at 70 the long 3 (LP 95.5, BP 95) is out: notional 286.5, deficit (95 − 70) × 3 = 75
    assert s["symbol"] == BYBIT and s["mark"] == "100" and s["prices"] == ["70", "100", "130"]
    assert s["long_notional"][0] == "286.5" and s["deficit"] == ["75", "0", "0"]
