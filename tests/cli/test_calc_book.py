"""`margincall calc --book FILE [--out FILE] [--instruments FILE] [--strict]`: the book's rows priced to a CSV,
Parquet or JSON-lines file, or summed up in 80 columns; bad rows listed with their row and field (status 1),
`--strict` stopping at the first (status 2, no file)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from margincall.calculator import calculate
from margincall.model.errors import MarginCallError
from support.books import COLUMNS, INSTRUMENTS, mixed_book, same, scenario_of
from support.cli import run_cli

RESULTS = ["liquidation_price", "bankruptcy_price", "initial_margin", "maintenance_margin", "margin_ratio",
           "distance_to_liquidation"]  # fmt: skip


def _book(tmp_path: Path, rows: list[dict[str, str]]) -> tuple[Path, Path]:
    path = tmp_path / "book.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    inst = tmp_path / "instruments.json"
    inst.write_text(json.dumps(INSTRUMENTS))
    return path, inst


def _clean_book(n: int) -> list[dict[str, str]]:
    """Accounts of the mixed book whose scenarios calc prices (no refused leverage or size)."""
    rows = mixed_book(n, seed=13)
    keep = []
    for account in dict.fromkeys(r["account"] for r in rows):
        group = [r for r in rows if r["account"] == account]
        try:
            calculate(scenario_of(group))
        except MarginCallError:
            continue
        keep.extend(group)
    return keep


def test_rows_match_calc_json_account_by_account(tmp_path: Path) -> None:
    rows = _clean_book(13)  # every venue, some twice
    assert len({r["venue"] for r in rows}) == 9
    book, inst = _book(tmp_path, rows)
    out = tmp_path / "priced.parquet"
    proc = run_cli("calc", "--book", str(book), "--instruments", str(inst), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert f"{len(rows)} rows: {len(rows)} priced, 0 not" in proc.stdout
    got = pq.read_table(out).to_pylist()
    n = 0
    for account in dict.fromkeys(r["account"] for r in rows):
        group = [r for r in rows if r["account"] == account]
        calc = run_cli("calc", "--json", "-", stdin=json.dumps(scenario_of(group)))
        for p in json.loads(calc.stdout)["positions"]:
            row = got[n]
            n += 1
            assert row["error"] is None and row["account"] == account
            # prices are calc's own (at the tick); money and ratios are calc's rounded as the book documents
            assert same(row["liquidation_price"], p["liquidation_price"])
            assert same(row["bankruptcy_price"], p["bankruptcy_price"])
            for k, exact in (
                ("initial_margin", "initial_margin"),
                ("maintenance_margin", "maintenance_margin"),
                ("margin_ratio", "margin_ratio"),
                ("distance_to_liquidation", "distance_to_liquidation_pct"),
            ):
                if p[exact] is None:
                    assert row[k] is None
                else:  # within one unit of the book's rounding, on the side it rounds to
                    unit = 1e-4 if k == "distance_to_liquidation" else 1e-8
                    assert abs(float(row[k]) - float(p[exact])) <= unit, (k, row[k], p[exact])
    assert n == len(rows)


def test_exact_runs_the_reference_alone_and_writes_the_same_file(tmp_path: Path) -> None:
    rows = mixed_book(40, seed=5)  # bad rows (refused leverage or size) included: same errors too
    book, inst = _book(tmp_path, rows)
    outs = []
    for flags in ((), ("--exact",)):
        out = tmp_path / f"priced{len(flags)}.parquet"
        proc = run_cli("calc", "--book", str(book), "--instruments", str(inst), "--out", str(out), *flags)
        assert proc.returncode in (0, 1), proc.stderr
        outs.append((pq.read_table(out).to_pylist(), proc.stdout.replace(out.name, ""), proc.stderr))
    assert outs[0] == outs[1]
    assert len(outs[0][0]) == len(rows)
    proc = run_cli("calc", "--size", "1", "--entry", "100", "--exact")
    assert proc.returncode == 2 and "--exact: used only with --book FILE" in proc.stderr


def test_bad_rows_are_listed_and_written_with_their_error(tmp_path: Path) -> None:
    rows = mixed_book(5, seed=21)
    rows[1]["size"] = ""
    book, inst = _book(tmp_path, rows)
    for ext in ("csv", "jsonl"):
        out = tmp_path / f"priced.{ext}"
        proc = run_cli("calc", "--book", str(book), "--instruments", str(inst), "--out", str(out))
        assert proc.returncode == 1
        assert "error: row 2: size: missing (empty)" in proc.stderr
        if ext == "jsonl":
            written = [json.loads(line) for line in out.read_text().splitlines()]
        else:
            written = list(csv.DictReader(out.open()))
        assert len(written) == len(rows) and written[1]["error"] == "row 2: size: missing (empty)"


def test_strict_stops_and_writes_nothing(tmp_path: Path) -> None:
    rows = mixed_book(5, seed=21)
    rows[3]["entry_price"] = "-5"
    book, inst = _book(tmp_path, rows)
    out = tmp_path / "priced.parquet"
    proc = run_cli("calc", "--book", str(book), "--instruments", str(inst), "--out", str(out), "--strict")
    assert proc.returncode == 2 and "row 4: entry_price" in proc.stderr
    assert not out.exists() and not list(tmp_path.glob(".priced*"))


def test_the_terminal_summary_fits_80_columns(tmp_path: Path) -> None:
    book, inst = _book(tmp_path, mixed_book(12, seed=4))
    env = {**os.environ, "COLUMNS": "80", "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(
        [sys.executable, "-m", "margincall.cli.main", "calc", "--book", str(book), "--instruments", str(inst)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode in (0, 1), proc.stderr
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "liquidation" in proc.stdout and "first 10 rows" in proc.stdout


def test_book_flags_and_calc_flags_do_not_mix(tmp_path: Path) -> None:
    book, _ = _book(tmp_path, mixed_book(1))
    proc = run_cli("calc", "--book", str(book), "--size", "1")
    assert proc.returncode == 2 and "--size: not used with --book" in proc.stderr
    proc = run_cli("calc", "--size", "1", "--entry", "100", "--out", "x.csv")
    assert proc.returncode == 2 and "--out: used only with --book FILE" in proc.stderr


def test_a_book_of_no_rows_gives_a_file_of_the_columns(tmp_path: Path) -> None:
    book, _ = _book(tmp_path, [])
    out = tmp_path / "priced.parquet"
    proc = run_cli("calc", "--book", str(book), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    table = pq.read_table(out)
    assert table.num_rows == 0 and table.column_names == [*COLUMNS, *RESULTS, "error"]


def _stderr_on_a_terminal(*args: str) -> str:
    """Run margincall with stderr on a pseudo-terminal; what it wrote there."""
    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "margincall.cli.main", *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=slave)  # fmt: skip
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed its end
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(master)
    return b"".join(chunks).decode(errors="replace")


def test_a_progress_bar_on_a_terminal_and_none_with_quiet(tmp_path: Path) -> None:
    book, inst = _book(tmp_path, mixed_book(20, seed=8))
    args = ("calc", "--book", str(book), "--instruments", str(inst), "--out", str(tmp_path / "o.parquet"))
    assert "pricing" in _stderr_on_a_terminal(*args)
    assert "pricing" not in _stderr_on_a_terminal(*args, "--quiet")
    assert "pricing" not in run_cli(*args).stderr  # not a terminal
