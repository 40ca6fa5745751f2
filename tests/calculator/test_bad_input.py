"""Bad input gets a clear error naming what is wrong — exit code 2 from the CLI, never a traceback."""

from __future__ import annotations

import json

import pytest

from margincall.calculator import calculate
from margincall.model import InvalidNumber, MarginCallError, TierSpec, TierTable, TierTableError
from support.cli import run_cli


def scenario(**pos_overrides: object) -> dict:
    pos = {
        "symbol": "BTCUSDT",
        "side": "long",
        "size": "1",
        "entry_price": "20000",
        "leverage": "10",
        "margin_mode": "isolated",
    }
    pos.update(pos_overrides)
    return {"venue": "bybit-linear", "positions": [pos]}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"size": "-1"}, "positions[0].size"),
        ({"size": "0"}, "greater than zero"),
        ({"entry_price": "0"}, "entry_price"),
        ({"entry_price": "NaN"}, "not a finite number"),
        ({"entry_price": "Infinity"}, "not a finite number"),
        ({"mark_price": "-5"}, "mark_price"),
        ({"size": "1e30"}, "larger than"),
        ({"size": "0.0000000000000000000001"}, "digits after the decimal point"),
        ({"size": True}, "expected a number"),
        ({"symbol": "DOGEUSDT"}, "unknown symbol 'DOGEUSDT'"),
        ({"leverage": "101"}, "leverage 101 is above the tier's max 100"),
        ({"side": "up"}, "positions[0].side"),
        ({"margin_mode": "portfolio"}, "positions[0].margin_mode"),
        ({"position_side": "short"}, "does not match side"),
    ],
)
def test_calculator_rejects(bad, message):
    with pytest.raises(MarginCallError) as err:
        calculate(scenario(**bad))
    assert message in str(err.value)


def test_position_beyond_largest_tier():
    # Bybit built-in BTCUSDT tiers end at 80,000,000 USDT: 5,000 BTC @ 20,000 = 100 M is beyond them.
    with pytest.raises(MarginCallError, match="beyond the largest tier"):
        calculate(scenario(size="5000", leverage="1"))


def test_unknown_venue_and_formula():
    with pytest.raises(MarginCallError, match="unknown venue 'ftx'"):
        calculate({**scenario(), "venue": "ftx"})
    with pytest.raises(MarginCallError, match="no formula '1999'"):
        calculate({**scenario(), "formula": "1999"})


def test_unknown_field_is_named():
    with pytest.raises(MarginCallError, match=r"positions\[0\]\.sizee"):
        calculate(scenario(sizee="1"))


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ([TierSpec(0, 100, "0.01", 50), TierSpec(150, 200, "0.02", 25)], "gap between tier 1"),
        ([TierSpec(0, 100, "0.01", 50), TierSpec(90, 200, "0.02", 25)], "overlap between tier 1"),
        ([TierSpec(0, 100, "0.02", 50), TierSpec(100, 200, "0.01", 25)], "lower than tier 1"),
        ([TierSpec(0, 100, "0.01", 50), TierSpec(100, 200, "0.02", 25, "5")], "should be 1"),
        ([TierSpec(10, 100, "0.01", 50)], "must start at 0"),
        ([TierSpec(0, 100, "1.5", 50)], "above 100%"),
        ([], "at least one tier"),
    ],
)
def test_tier_table_validation(specs, message):
    with pytest.raises(TierTableError, match=message):
        TierTable.build(specs)


def test_discontinuous_tiers_in_a_scenario():
    s = scenario()
    s["instruments"] = {
        "BTCUSDT": {
            "tiers": [
                {"floor": "0", "cap": "50000", "mmr": "0.004", "max_leverage": "125", "maintenance_amount": "0"},
                {"floor": "50000", "cap": "250000", "mmr": "0.005", "max_leverage": "100", "maintenance_amount": "999"},
            ]
        }
    }
    with pytest.raises(TierTableError, match="tier 2: maintenance amount 999 should be 50"):
        calculate(s)


def test_invalid_number_type():
    with pytest.raises(InvalidNumber):
        TierTable.single("nan")


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("{not json", "malformed JSON at line 1"),
        ("[1, 2]", "must be a JSON object"),
        ('{"positions": []}', "positions"),
        (json.dumps(scenario(size="-1")), "must be greater than zero"),
        (json.dumps(scenario(leverage="500")), "above the tier's max"),
        (json.dumps({**scenario(), "venue": "nope"}), "unknown venue"),
    ],
)
def test_cli_json_errors_exit_2_without_traceback(stdin, message):
    proc = run_cli("calc", "--json", "-", stdin=stdin)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["calc", "--venue", "bybit-linear", "--size", "-1", "--entry", "20000"],
        ["calc", "--venue", "bybit-linear", "--size", "1", "--entry", "0"],
        ["calc", "--venue", "nowhere", "--size", "1", "--entry", "1"],
        ["calc", "--venue", "bybit-linear", "--symbol", "XYZ", "--size", "1", "--entry", "1"],
        ["calc", "--venue", "bybit-linear", "--size", "1", "--entry", "20000", "--leverage", "150"],
        ["calc", "--json", "/nonexistent/file.json"],
        ["calc", "--no-such-flag"],
        ["calc"],
    ],
)
def test_cli_flag_errors_exit_2(args):
    proc = run_cli(*args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stderr.strip()


def test_cli_table_output_for_one_position():
    proc = run_cli(
        "calc",
        "--venue",
        "bybit-linear",
        "--side",
        "long",
        "--size",
        "1",
        "--entry",
        "20000",
        "--leverage",
        "50",
        "--target-liq",
        "19000",
        "--formula",
        "2024",
    )
    assert proc.returncode == 0, proc.stderr
    assert "19,700" in proc.stdout  # V8 (the table shows prices with separators, money to 2 places)
    assert "700.00 USDT" in proc.stdout  # margin to add: 1 × (19,700 − 19,000)
