"""`margincall calc --json FILE --table`: a scenario's answers as tables that read well in an 80-column terminal
(no name cut with an ellipsis, numbers rounded for reading); the JSON output keeps the exact values."""

from __future__ import annotations

import json

from support.cli import run_cli
from support.paths import ROOT

NARROW = {"COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb"}


def _table(scenario: dict[str, object]) -> str:
    proc = run_cli("calc", "--json", "-", "--table", stdin=json.dumps(scenario), env=NARROW)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "…" not in out, out
    assert max(len(line) for line in out.splitlines()) <= 80, out
    return out


def test_mark_and_funding_tables_binance():
    # V14: 10,000 × (1 + 0.03 % × 4/8) = 10,001.5; median(10,001.5, 10,000 + 3, 10,002) = 10,002.
    # V24: cap 0.75 × (1.3 % − 0.65 %) = 0.4875 %; IMN 200 / 1.3 % = 15,384.615384…
    out = _table(
        {
            "venue": "binance-usdm",
            "mark_price": {
                "index": "10000",
                "funding_rate": "0.0003",
                "hours_until_funding": "4",
                "basis_ma": "3",
                "last_price": "10002",
            },
            "funding": {"imr": "0.013", "mmr": "0.0065"},
        }
    )
    assert "binance-usdm · mark price" in out and "docs/venues.md §3.6" in out
    assert "10,001.5" in out and "10,003" in out and "10,002" in out
    assert "±0.4875 % per funding" in out and "15,384.61538462" in out and "8 h" in out
    assert "Funding rate" not in out  # no premium index given: no rate asked


def test_fillable_ratio_and_collateral_tables():
    # V21: 0.801 × (1 − 1.5 × 3 % × (1 − 0.5/12.015)) = 0.766455 → 0.77.
    out = _table(
        {
            "venue": "dydx",
            "fillable_price": {
                "side": "long",
                "oracle_price": "0.801",
                "mmf": "0.03",
                "equity": "0.50",
                "total_mmr": "12.015",
                "tick_size": "0.01",
            },
        }
    )
    assert "0.766455" in out and "0.77" in out
    # V25: (1,000 − 990) / 9,010 = 0.110987…% < 1.575 %.
    out = _table(
        {
            "venue": "okx",
            "margin_ratio_check": {
                "margin": "1000",
                "unrealized_pnl": "-990",
                "position_value": "9010",
                "mmr": "0.015",
                "liquidation_fee_rate": "0.00075",
            },
        }
    )
    assert "0.11098779 %" in out and "1.575 %" in out and "yes" in out
    # V30: 0.1 × 10,000 × 0.9 + 1,000 × 1 × 1 = 1,900.
    out = _table(
        {
            "venue": "bitunix",
            "collateral": {
                "assets": [
                    {"asset": "BTC", "amount": "0.1", "price": "10000", "weight": "0.9"},
                    {"asset": "USDT", "amount": "1000", "price": "1", "weight": "1"},
                ]
            },
        }
    )
    assert "900" in out and "1,900" in out and "total" in out


def test_positions_and_sections_together():
    # V8: 1 BTC long @ 20,000, 50x, MMR 0.5 % (form 2024): LP 20,000 − (400 − 100) = 19,700; with V14's mark.
    out = _table(
        {
            "venue": "bybit-linear",
            "formula": "2024",
            "instruments": {"BTCUSDT": {"mmr": "0.005", "maintenance_amount": "0", "tick_size": "0.1"}},
            "positions": [
                {
                    "symbol": "BTCUSDT",
                    "side": "long",
                    "size": "1",
                    "entry_price": "20000",
                    "leverage": "50",
                    "margin_mode": "isolated",
                }
            ],
            "mark_price": {"index": "10000", "funding_rate": "0.0003", "hours_until_funding": "4"},
        }
    )
    assert "19,700" in out and "10,001.5" in out


def test_table_needs_a_json_scenario():
    proc = run_cli("calc", "--size", "1", "--entry", "1", "--table")
    assert proc.returncode == 2 and "--table" in proc.stderr and "Traceback" not in proc.stderr


def test_readme_funding_table_is_the_real_output():
    # The README's dYdX funding block must be what the command prints. V23: 600 % × (5 % − 3 %) = 12 % per 8 h;
    # impact notional 500 / 5 % = 10,000.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    scenario = {"venue": "dydx", "funding": {"imr": "0.05", "mmr": "0.03"}}
    command = f"$ echo '{json.dumps(scenario)}' | margincall calc --json - --table\n"
    block = readme.split(command, 1)[1]
    shown = [line.strip() for line in block.split("```", 1)[0].splitlines() if line.strip()]
    out = _table(scenario)
    assert [line.strip() for line in out.splitlines() if line.strip()] == shown
    assert any("±12 % per 8 h" in line for line in shown) and any("10,000" in line for line in shown)


def test_venues_json_lists_the_sections_each_venue_answers():
    proc = run_cli("venues", "--json")
    assert proc.returncode == 0, proc.stderr
    sections = {v["venue"]: v["sections"] for v in json.loads(proc.stdout)}
    assert sections["binance-usdm"] == {"mark_price": "docs/venues.md §3.6", "funding": "docs/venues.md §3.7"}
    assert sections["dydx"] == {"funding": "docs/venues.md §8", "fillable_price": "docs/venues.md §8"}
    assert sections["okx"] == {"margin_ratio_check": "docs/venues.md §5"}
    assert sections["bitunix"] == {"collateral": "docs/venues.md §6"}
    assert sections["generic"] == {"collateral": "docs/venues.md §6, §9"}
    assert sections["hyperliquid"] == {"funding": "docs/venues.md §7"}
