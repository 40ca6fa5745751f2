"""`margincall venues` and `margincall explain` read well in an 80-column terminal: no name cut with an ellipsis,
times in ISO UTC, numbers rounded for reading, and `explain` opens with the story of the liquidation; `--json`
keeps the exact values."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal as D

from margincall.risk.engine import EngineConfig
from margincall.risk.executor import MarketExecutor
from margincall.store.engine import open_engine
from margincall.venues import VENUES

T0 = 1764547200000  # 2025-12-01T00:00:00Z in epoch milliseconds


def _run(*args: str) -> str:
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb"}
    proc = subprocess.run([sys.executable, "-m", "margincall.cli.main", *args], capture_output=True, text=True,
                          env=env, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _fits(out: str) -> None:
    assert "…" not in out, out
    assert max(len(line) for line in out.splitlines()) <= 80, out


def test_venues_shows_every_name_whole_with_its_default_form_and_date():
    out = _run("venues")
    _fits(out)
    for name, profile in VENUES.items():
        assert name in out
        default = profile.default_form
        assert f"{default.name}*  {default.published}" in out, name
    assert "2026*  2026-05-27  §4.2–4.3" in out and "legacy  2020–21  §4.2, 4.4" in out
    data = json.loads(_run("venues", "--json"))
    bybit = next(v for v in data if v["venue"] == "bybit-linear")
    assert [f["name"] for f in bybit["formulas"]] == ["2026", "2024", "legacy"] and bybit["formulas"][0]["default"]
    assert bybit["taker_fee"] == "0.00055"


def _adl_log(path: str) -> None:
    # b deposits 1,000 and is long 1 BTC @ 10,000 at 10x (flat MMR 2 %, no fees); s1 is short 1 @ 10,000 and s2
    # short 1 @ 9,000, each with 5,000. The mark gaps to 8,500 one minute later: b's equity 1,000 − 1,500 = −500,
    # MM 170; bankruptcy price 10,000 − 1,000 = 9,000. The fund is empty, so the top-ranked short (s1, PnL% ×
    # effective leverage (1,500/10,000) × (8,500/6,500) = 0.196 against s2's 0.086) takes the long at 9,000.
    j = open_engine(path, EngineConfig(executor=MarketExecutor(slippage=D(0), impact_per_million=D(0))))
    flat = [{"floor": "0", "cap": None, "mmr": "0.02", "max_leverage": "50"}]
    j.submit("market_listed", {"venue": "bybit-linear", "symbol": "BTCUSDT", "maker_fee": "0", "taker_fee": "0",
                               "liquidation_fee": "0", "tiers": flat}, ts=T0)  # fmt: skip
    for acct, amount in (("b", "1000"), ("s1", "5000"), ("s2", "5000")):
        j.submit("account_opened", {"account": acct}, ts=T0)
        j.submit("deposit", {"account": acct, "asset": "USDT", "amount": amount}, ts=T0)
        j.submit("leverage_set", {"account": acct, "symbol": "BTCUSDT", "leverage": "10"}, ts=T0)
    j.submit("fill", {"account": "b", "symbol": "BTCUSDT", "side": "buy", "size": "1", "price": "10000"}, ts=T0 + 1)
    j.submit("fill", {"account": "s1", "symbol": "BTCUSDT", "side": "sell", "size": "1", "price": "10000"}, ts=T0 + 1)
    j.submit("fill", {"account": "s2", "symbol": "BTCUSDT", "side": "sell", "size": "1", "price": "9000"}, ts=T0 + 1)
    j.submit("mark", {"symbol": "BTCUSDT", "price": "8500"}, ts=T0 + 60_000)
    j.log.close()


def test_explain_opens_with_the_story_and_fits_80_columns(tmp_path):
    path = str(tmp_path / "log.db")
    _adl_log(path)
    out = _run("explain", "b", "--log", path)
    _fits(out)
    head = " ".join(out.split("#", 1)[0].split())  # the story, lines joined
    assert head.startswith("Liquidation L1 of account b (cross USDT)")
    # When, at which mark, equity against MM (1 × 8,500 × 2 % = 170; ratio 170 / −500 is not a percentage).
    assert "At 2025-12-01T00:01:00Z, at the mark BTCUSDT 8,500, equity -500.00 USDT was not above the " \
           "maintenance margin 170.00 USDT" in head  # fmt: skip
    # What each step did: s1 takes the long at the bankruptcy price 9,000; b realizes 1 × (9,000 − 10,000).
    assert "ADL: s1's 1 BTCUSDT taken at the bankruptcy price 9,000 (rank 1" in head
    assert "1 closed at 9,000 against the ADL counterparties (bankruptcy price 9,000); realized PnL " \
           "-1,000.00 USDT" in head  # fmt: skip
    assert "Who paid: the trader's margin bore the realized loss 1,000.00 USDT; ADL counterparties (s1) were " \
           "closed at the bankruptcy price." in head  # fmt: skip
    # The event tables: ISO times, no raw epoch milliseconds, ratios as rounded percentages.
    assert "2025-12-01T00:01:00Z" in out and str(T0) not in out
    assert "#2  account_opened  2025-12-01T00:00:00Z" in out


def test_explain_json_keeps_exact_values(tmp_path):
    path = str(tmp_path / "log.db")
    _adl_log(path)
    steps = json.loads(_run("explain", "b", "--log", path, "--json"))
    started = next(s for s in steps if s["type"] == "liquidation_started")
    assert started["ts"] == T0 + 60_000 and started["time"] == "2025-12-01T00:01:00Z" and started["asset"] == "USDT"
    numbers = {n["name"]: n["value"] for n in started["numbers"]}
    assert D(numbers["equity"]) == -500 and D(numbers["maintenance_margin"]) == 170
