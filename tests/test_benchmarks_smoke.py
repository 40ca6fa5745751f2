"""The benchmarks still run (tiny sizes): each prints its table and, with ``--json``, one JSON object as its last line
with the keys the issues name. Their figures are measured by hand and kept in docs/benchmarks.md; only that they
run, and say what they must, is checked here."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from support.paths import ROOT

BENCH = ROOT / "benchmarks"


def _last_json(*args: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, *args], cwd=BENCH, capture_output=True, text=True, check=True, timeout=600)
    last: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return last


def test_engine_benchmark_prints_the_issue_keys() -> None:
    res = _last_json("engine.py", "--positions", "2000", "--ticks", "50", "--crash-positions", "500",
                     "--crash-symbols", "5", "--exact-ticks", "20", "--json")
    for key in ("positions", "accounts", "full_rescreen_ms", "tick_median_us", "tick_p99_us",
                "small_book_tick_median_us", "crash_liquidations", "crash_waterfall_s", "conservation_ok"):
        assert key in res, key
    assert res["positions"] == 2000 and res["conservation_ok"] is True
    assert isinstance(res["crash_liquidations"], int) and res["crash_liquidations"] > 0


@pytest.mark.parametrize("per_symbol", [False, True])
def test_crash_digest_is_deterministic(per_symbol: bool) -> None:
    args = ["crash_digest.py", "--positions", "500", "--symbols", "5", "--ticks", "20"] + (
        ["--per-symbol"] if per_symbol else [])
    runs = [subprocess.run([sys.executable, *args], cwd=BENCH, capture_output=True, text=True, check=True,
                           timeout=600).stdout.splitlines()[-3:] for _ in range(2)]
    assert runs[0] == runs[1] and runs[0][1].startswith("digest ")


def test_event_floor_prints_its_parts() -> None:
    res = _last_json("event_floor.py", "--events", "2000", "--json")
    assert {"build_event_us", "ledger_apply_us", "durable_append_us", "crash_floor_s"} <= res.keys()


@pytest.mark.parametrize("raw", [False, True])
def test_fill_cost_runs_fills_of_many_accounts(raw: bool) -> None:
    res = _last_json("fill_cost.py", "--fills", "300", "--accounts", "40", "--batch", "100", "--json",
                     *(["--raw"] if raw else []))
    assert res["fills"] == 300 and res["accounts"] == 40 and res["raw"] is raw and res["per_s"] > 0  # type: ignore[operator]


def test_event_pages_benchmark_prints_cost_per_page() -> None:
    res = _last_json("event_pages.py", "--events", "5000", "--accounts", "50", "--pages", "3", "--json")
    for name in ("viewer_public_feed", "trader_own_account", "admin_account_and_types", "insurance_fund",
                 "every_event"):
        assert f"{name}_page_ms" in res and f"{name}_examined" in res, name
    assert res["events"] == 5000 and "full_scan_ms" in res


def test_calculator_scenario_benchmark_prints_seconds_by_size() -> None:
    res = _last_json("calc_scenario.py", "--instruments", "2,4", "--tiers", "5", "--repeats", "1", "--json")
    assert set(res["seconds"]) == {"2", "4"} and set(res["us_per_position"]) == {"2", "4"}  # type: ignore[arg-type]


def test_stress_benchmark_prints_path_steps_per_second() -> None:
    res = _last_json("stress.py", "--paths", "200", "--steps", "48", "--json")
    assert res["path_steps_per_s"] > 0 and set(res["models"]) == {"gbm", "merton", "bootstrap"}  # type: ignore[arg-type]


def test_calc_book_benchmark_prices_the_whole_generated_book() -> None:
    res = _last_json("calc_book.py", "--rows", "500", "--json")
    assert res["book_rows"] == 500 and res["book_priced"] == 500  # every venue's rows priced, none refused
    assert {"book_seconds", "book_peak_rss_mb"} <= res.keys()


def test_core_tick_benchmark_prints_its_keys_and_agrees_with_the_reference() -> None:
    res = _last_json("core_tick.py", "--positions", "3000", "--symbols", "12", "--sample", "500", "--repeats", "1",
                     "--json")
    for key in ("core_tick_s", "decimal_sample_s", "decimal_status_s_extrapolated", "liquidatable", "bands",
                "closes_s", "closes_taken_over"):
        assert key in res, key
    assert res["positions"] == 3000 and res["sample_agrees"] is True


def test_core_inputs_benchmark_prints_its_keys_and_agrees_with_the_ledger() -> None:
    res = _last_json("core_inputs.py", "--accounts", "300", "--batches", "2", "--json")
    for key in ("core_fills_per_s", "ledger_fills_per_s", "core_fills_per_cpu_s", "ledger_fills_per_cpu_s"):
        assert key in res, key
    assert res["fills"] == 2000 and res["states_agree"] is True


def test_liquidation_map_benchmark_prints_the_lock_cost() -> None:
    res = _last_json("liquidation_map.py", "--positions", "200", "--symbols", "5", "--rows", "2000", "--json")
    for key in ("positions", "lock_read_ms", "lock_read_us_per_position", "pricing_ms", "map_build_ms",
                "builder_rows_per_s"):
        assert key in res, key
    assert res["positions"] == 105 and res["rows"] == 2000  # 20 accounts × 5 symbols and 5 market makers

def test_calc_benchmark_prints_the_issue_keys() -> None:
    res = _last_json("calc.py", "--positions", "3000", "--sample-accounts", "60", "--freqtrade-positions", "200",
                     "--json")
    assert res["positions"] == 3000 and res["none_mismatches"] == 0 and res["refused_rows"] == 0
    assert isinstance(res["vector_per_s"], int) and isinstance(res["max_rel_error"], float)
    assert list(res)[-1] == "vector_per_s"
