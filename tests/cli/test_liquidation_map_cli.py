"""``margincall liquidation-map``: the table in 80 columns, the exact JSON, the HTML file, errors named."""

from __future__ import annotations

import json
from pathlib import Path

from support.cli import run_cli

EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "liquidation-map.json")


def test_table_fits_80_columns_and_shows_the_fund_shortfall():
    proc = run_cli("liquidation-map", EXAMPLE, "--range", "0.1", "--steps", "2")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    # BTCUSDT at −10 % (mark 90): both longs (LPs 90.36, 95.38), notional 90.36 + 3 × 95.38 = 376.50;
    # deficit (95 − 90) × 3 = 15, the fund of 5 pays 5, 10 to ADL (tests/calculator's hand values)
    row = next(line for line in lines if "-10.0 %" in line)
    assert row.split() == ["-10.0", "%", "90", "2", "L", "376.50", "15.00", "10.00"]
    assert any("BTCUSDT" in line and "fund 5.00 USDT" in line for line in lines)


def test_json_and_html(tmp_path):
    out = tmp_path / "map.html"
    proc = run_cli("liquidation-map", EXAMPLE, "--range", "0.3", "--steps", "3", "--json", "--html", str(out))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    btc = next(s for s in data["symbols"] if s["symbol"] == "BTCUSDT")
    assert btc["deficit"] == ["95", "55", "15", "0", "0", "0", "5"]
    page = out.read_text()
    assert "<script src=" not in page and "http" not in page.replace("http://www.w3.org/2000/svg", "")
    assert '"symbol":"BTCUSDT"' in page


def test_errors_name_the_field(tmp_path):
    proc = run_cli("liquidation-map", EXAMPLE, "--range", "1.5")
    assert proc.returncode == 2 and "range" in proc.stderr
    proc = run_cli("liquidation-map", EXAMPLE, "--symbol", "DOGEUSDT")
    assert proc.returncode == 2 and "symbol" in proc.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    proc = run_cli("liquidation-map", str(bad))
    assert proc.returncode == 2 and "bad.json" in proc.stderr
