"""`margincall ledger replay | verify | export` and `margincall explain` on a real log file."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal as D

from conftest import run_cli
from margincall.risk.engine import EngineConfig
from margincall.risk.executor import MarketExecutor
from margincall.store.engine import open_engine


def make_log(path: str) -> None:
    j = open_engine(path, EngineConfig(executor=MarketExecutor(slippage=D(0), impact_per_million=D(0))))
    j.submit("market_listed", {"venue": "generic", "symbol": "BTCUSDT", "maker_fee": "0", "taker_fee": "0",
                               "tiers": [{"floor": "0", "cap": None, "mmr": "0.02", "max_leverage": "50"}]}, ts=1)
    j.submit("account_opened", {"account": "t"}, ts=1)
    j.submit("deposit", {"account": "t", "asset": "USDT", "amount": "1000"}, ts=1)
    j.submit("leverage_set", {"account": "t", "symbol": "BTCUSDT", "leverage": "10"}, ts=1)
    j.submit("fill", {"account": "t", "symbol": "BTCUSDT", "side": "buy", "size": "1", "price": "10000"}, ts=2)
    j.submit("mark", {"symbol": "BTCUSDT", "price": "9180"}, ts=3)
    j.log.close()


def test_verify_replay_export_and_explain(tmp_path):
    path = str(tmp_path / "log.db")
    make_log(path)
    ok = run_cli("ledger", "verify", "--log", path)
    assert ok.returncode == 0 and "12 events" in ok.stdout
    state = json.loads(run_cli("ledger", "replay", "--log", path, "--json").stdout)
    balances = {(b, a): D(v) for b, a, v in state["balances"]}
    # the seed liquidation at 9,180: equity 180 goes to the insurance fund, the wallet ends at 0
    assert balances[("insurance", "USDT")] == 180 and ("wallet:t", "USDT") not in balances
    lines = run_cli("ledger", "export", "--log", path).stdout.splitlines()
    assert [json.loads(x)["seq"] for x in lines] == list(range(1, 13))
    out = run_cli("explain", "t", "--log", path, "--json")
    steps = json.loads(out.stdout)
    assert [s["type"] for s in steps][-6:] == ["margin_call", "liquidation_started", "liquidation",
                                               "bankruptcy_settlement", "liquidation_finished", "margin_call"]
    bad = run_cli("explain", "nobody", "--log", path)
    assert bad.returncode == 2 and "no liquidation" in bad.stderr


def test_verify_names_the_first_tampered_event(tmp_path):
    path = str(tmp_path / "log.db")
    make_log(path)
    with sqlite3.connect(path) as db:
        db.execute("""UPDATE events SET payload = '{"account":"t","amount":"100000","asset":"USDT"}' WHERE seq = 3""")
    bad = run_cli("ledger", "verify", "--log", path)
    assert bad.returncode == 1 and "seq 3" in bad.stderr


def test_verify_reference_remakes_the_engines_decisions(tmp_path):
    """The log ran with no slippage and no impact: the reference engine configured so agrees with all 12 events
    (6 inputs); with the default executor (slippage 0.001) it fills the liquidation at 9,180 × (1 − 0.001 −
    0.0005 × 9,180 / 10^6) = 9,180 × 0.99899541 = 9,170.7778638, and names event 9."""
    path = str(tmp_path / "log.db")
    make_log(path)
    env = {"MARGINCALL_ENGINE__SLIPPAGE": "0", "MARGINCALL_ENGINE__IMPACT_PER_MILLION": "0"}
    ok = run_cli("ledger", "verify", "--reference", "--log", path, env=env)
    assert ok.returncode == 0, ok.stderr
    assert "the reference engine makes every decision of the log (6 inputs, 12 events)" in ok.stdout
    bad = run_cli("ledger", "verify", "--reference", "--log", path,
                  env={"MARGINCALL_ENGINE__SLIPPAGE": "0.001", "MARGINCALL_ENGINE__IMPACT_PER_MILLION": "0.0005"})
    assert bad.returncode == 1 and "differs from the reference at seq 9: decision_mismatch" in bad.stderr
    assert '"close_price": "9170.7778638"' in bad.stderr and '"close_price": "9180"' in bad.stderr
    missing = run_cli("ledger", "verify", "--reference", "--config", str(tmp_path / "none.toml"), "--log", path)
    assert missing.returncode == 2 and "not found" in missing.stderr


def test_a_missing_log_is_a_clear_error_not_an_empty_ledger(tmp_path):
    for args in (("ledger", "verify"), ("ledger", "replay"), ("ledger", "export"), ("explain", "t")):
        r = run_cli(*args, "--log", str(tmp_path / "nope.db"))
        assert r.returncode == 2 and "no log at" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "nope.db").exists()
