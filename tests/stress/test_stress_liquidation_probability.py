"""The stress test's liquidation probabilities against closed forms, and its models' sanity under fixed seeds.

GBM first passage (reflection principle): with X_t = ln(S_t/S_0) = νt + σW_t, ν = μ − σ²/2, a lower barrier
b = ln(B/S_0) < 0 is touched by T with probability
    Φ((b − νT)/(σ√T)) + exp(2νb/σ²)·Φ((b + νT)/(σ√T)),
an upper barrier u > 0 with Φ((−u + νT)/(σ√T)) + exp(2νu/σ²)·Φ((−u − νT)/(σ√T)).
The paths watch the mark once a step, which misses touches between steps; Broadie–Glasserman–Kou (1997) give the
discrete probability as the continuous one with the barrier moved away by the factor exp(±0.5826·σ·√dt).

The liquidation prices are Binance's isolated rule with one tier (mmr 0.5 %, cum 0), margin = notional / leverage:
long P = E·(1 − 1/L)/(1 − mmr), short P = E·(1 + 1/L)/(1 + mmr).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from margincall.backtest.io import read_candles
from margincall.calculator import parse_scenario
from margincall.stress import BootstrapModel, GBMModel, MertonModel, StressInputError, advise, run_stress
from margincall.stress.paths import simulate
from margincall.stress.run import at_mark, liquidatable
from support.paths import FIXTURES

BETA = 0.5826  # Broadie–Glasserman–Kou: −ζ(1/2)/√(2π)
XRP_5M = FIXTURES / "backtest" / "XRP_USDT_USDT-5m-futures.feather"


def phi(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


def touch(s0: float, barrier: float, mu: float, sigma: float, t: float, dt: float) -> float:
    """P(the discretely watched GBM touches the barrier by t), by the formulas of the module docstring."""
    nu = mu - sigma**2 / 2
    shift = math.exp(BETA * sigma * math.sqrt(dt))
    s = sigma * math.sqrt(t)
    if barrier < s0:
        b = math.log(barrier / shift / s0)
        return phi((b - nu * t) / s) + math.exp(2 * nu * b / sigma**2) * phi((b + nu * t) / s)
    u = math.log(barrier * shift / s0)
    return phi((-u + nu * t) / s) + math.exp(2 * nu * u / sigma**2) * phi((-u - nu * t) / s)


def scenario(side: str, lev: str, entry: str = "100", mode: str = "isolated") -> dict[str, object]:
    return {"venue": "binance-usdm", "instruments": {"BTCUSDT": {"mmr": "0.005"}},
            "positions": [{"symbol": "BTCUSDT", "side": side, "size": "1", "entry_price": entry, "leverage": lev,
                           "margin_mode": mode}]}


@pytest.mark.parametrize(("side", "mu", "exact"), [
    # Binance shows the price at the 0.01 tick rounded half-up (docs/venues.md, Binance V1/V3).
    # long: 100·(1 − 0.1)/0.995 = 90.4522613… → 90.45
    ("long", 0.0, D("90.45")),
    ("long", 0.5, D("90.45")),
    # short: 100·(1 + 0.1)/1.005 = 109.4527363… → 109.45
    ("short", -0.3, D("109.45")),
])
def test_gbm_first_passage_matches_the_reflection_formula(side: str, mu: float, exact: D) -> None:
    sigma, paths = 0.8, 40_000
    res = run_stress(scenario(side, "10"), GBMModel(sigma, mu), pd.Timedelta(days=7), step=pd.Timedelta(minutes=15),
                     paths=paths, seed=7, checkpoints=4)
    (b,) = res.barriers
    assert b.liquidation_price == exact
    barrier = 90.45226130653266 if side == "long" else 109.45273631840796
    assert float(b.liquidation_price_unrounded) == pytest.approx(barrier, rel=1e-12)
    dt = (15 * 60) / (365 * 86400)
    probs = res.probabilities()
    for k, days in enumerate((1.75, 3.5, 5.25, 7.0)):
        want = touch(100.0, barrier, mu, sigma, days / 365, dt)
        got = probs["account"].iloc[k]
        se = math.sqrt(want * (1 - want) / paths)
        assert abs(got - want) < 4 * se + 0.003, (days, got, want)
        assert probs[f"position_{b.index}"].iloc[k] == got
    assert (np.diff(probs["account"]) >= 0).all()


def test_the_exact_rule_agrees_with_the_calculators_liquidation_price() -> None:
    sc = parse_scenario(scenario("long", "10"))
    unrounded = D("90.45226130653266331658291457")  # 90/0.995 to 28 digits
    above = at_mark(sc, "BTCUSDT", unrounded + D("1e-20"))
    below = at_mark(sc, "BTCUSDT", unrounded - D("1e-20"))
    assert not liquidatable(above, 0)
    assert liquidatable(below, 0)


def test_advisor_is_monotonic_and_matches_the_closed_form() -> None:
    sigma, p, entry = 0.8, 0.08, 60_000.0
    template = scenario("long", "1", entry="60000")
    del template["venue"]
    advice = advise(template, GBMModel(sigma), pd.Timedelta(days=7), p, paths=40_000, seed=3)
    dt = 1 / (365 * 24)  # the default 1h step

    def closed(lev: int) -> float:
        return touch(entry, entry * (1 - 1 / lev) / 0.995, 0.0, sigma, 7 / 365, dt) if lev > 1 else 0.0

    best = max(lev for lev in range(1, 30) if all(closed(k) < p for k in range(1, lev + 1)))
    # the answer is not within Monte Carlo noise of p (se ≈ 0.0014 at 40k paths)
    assert closed(best) < p - 0.01 < p + 0.01 < closed(best + 1)
    binance = next(v for v in advice.venues if v.venue == "binance-usdm")
    assert binance.safe_leverage == best == 5
    assert binance.liquidation_price == D("48241.21")  # 60000·0.8/0.995 = 48241.2060…, to the tick half-up
    for venue, curve in advice.curve.groupby("venue"):
        probs = curve.dropna(subset=["probability"]).sort_values("leverage")["probability"].to_numpy()
        assert (np.diff(probs) >= 0).all(), venue


def test_bootstrap_of_a_steady_fall_liquidates_at_the_hand_computed_step() -> None:
    # closes fall 1 % an hour: 100·0.99ⁿ ≤ 90.4522… first at n = 10 (0.99¹⁰ = 0.904382…, 0.99⁹ = 0.913517…)
    dates = pd.date_range("2024-01-01", periods=40, freq="1h", tz="UTC")
    close = 100 * 0.99 ** np.arange(40)
    candles = pd.DataFrame({"date": dates, "open": close, "high": close, "low": close, "close": close})
    res = run_stress(scenario("long", "10"), BootstrapModel.from_candles(candles), pd.Timedelta(hours=20),
                     paths=50, seed=1)
    probs = res.probabilities()
    assert list(probs["steps"]) == list(range(1, 21))
    assert (probs["account"][probs["steps"] < 10] == 0).all()
    assert (probs["account"][probs["steps"] >= 10] == 1).all()


def test_bootstrap_draws_only_the_candles_returns_and_repeats_with_its_seed() -> None:
    model = BootstrapModel.from_candles(XRP_5M)
    close = read_candles(XRP_5M)["close"].to_numpy()
    assert model.step == pd.Timedelta(minutes=5)
    assert model.returns.size <= close.size - 1
    k = model.kernel(1.0)
    lo, hi, level = simulate(n_paths=2000, checkpoints=np.array([1, 50]), seed=5, **k)
    assert np.isin(level[:, 0], model.returns).all()
    assert (lo <= np.minimum(level, 0)).all() and (hi >= np.maximum(level, 0)).all()
    again = simulate(n_paths=2000, checkpoints=np.array([1, 50]), seed=5, **k)
    other = simulate(n_paths=2000, checkpoints=np.array([1, 50]), seed=6, **k)
    assert np.array_equal(level, again[2]) and not np.array_equal(level, other[2])


def test_merton_paths_keep_the_mean_and_add_the_jump_variance() -> None:
    # E[S_T/S_0] = exp(μT) = 1 (the drift is compensated for the jumps); Var[ln S_T/S_0] = σ²T + λT(μ_J² + σ_J²)
    m = MertonModel(vol=0.5, jump_rate=20, jump_mean=-0.05, jump_vol=0.1)
    t = 30 / 365
    _, _, level = simulate(n_paths=40_000, checkpoints=np.array([720]), seed=11, **m.kernel(t / 720))
    final = level[:, 0]
    var = 0.25 * t + 20 * t * (0.05**2 + 0.1**2)  # = 0.0411
    assert abs(np.exp(final).mean() - 1) < 4 * math.sqrt((math.exp(var) - 1) / 40_000)
    assert np.var(final) == pytest.approx(var, rel=0.05)
    # the jumps are down on average: a long at 5x is liquidated more often than under GBM of the same σ
    jumpy = run_stress(scenario("long", "5"), m, pd.Timedelta(days=30), paths=20_000, seed=2, checkpoints=1)
    plain = run_stress(scenario("long", "5"), GBMModel(0.5), pd.Timedelta(days=30), paths=20_000, seed=2,
                       checkpoints=1)
    assert jumpy.account_hits[-1] > plain.account_hits[-1]


def test_bad_stress_inputs_name_their_field() -> None:
    with pytest.raises(StressInputError) as e:
        GBMModel(vol=-1)
    assert e.value.field == "vol"
    with pytest.raises(StressInputError) as e:
        run_stress(scenario("long", "10"), GBMModel(0.5), pd.Timedelta(hours=5), step=pd.Timedelta(hours=2))
    assert e.value.field == "horizon"
    with pytest.raises(StressInputError) as e:
        run_stress(scenario("long", "10"), GBMModel(0.5), pd.Timedelta(days=1), symbol="ETHUSDT")
    assert e.value.field == "symbol"
    template = scenario("long", "10")
    template["positions"][0]["isolated_margin"] = "5"  # type: ignore[index]
    with pytest.raises(StressInputError) as e:
        advise(template, GBMModel(0.5), pd.Timedelta(days=1), 0.05)
    assert e.value.field == "isolated_margin"
    # A question section is not moved by a price path, and a scenario of sections alone has nothing to stress.
    with pytest.raises(StressInputError) as e:
        run_stress({**scenario("long", "10"), "funding": {"premium_index": "0.01"}}, GBMModel(0.5),
                   pd.Timedelta(days=1))  # fmt: skip
    assert (e.value.field, e.value.code) == ("funding", "unused_input")
    with pytest.raises(StressInputError) as e:
        run_stress({"venue": "generic", "collateral": {"assets": [{"asset": "BTC", "amount": "1", "price": "1",
                                                                   "weight": "1"}]}},
                   GBMModel(0.5), pd.Timedelta(days=1))  # fmt: skip
    assert e.value.field == "positions"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "margincall.cli.main", "stress", *args], capture_output=True,
                          text=True, timeout=300)


def test_cli_json_last_line_and_self_contained_html(tmp_path: Path) -> None:
    sc = tmp_path / "s.json"
    sc.write_text(json.dumps(scenario("long", "10")))
    out = tmp_path / "r.html"
    run = _cli("--scenario", str(sc), "--vol", "0.8", "--horizon", "2d", "--paths", "2000", "--advise", "0.1",
               "--html", str(out), "--json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout.strip().splitlines()[-1])
    assert data["positions"][0]["liquidation_price"] == "90.45"
    assert data["horizons"][-1]["hours"] == 48
    assert {v["venue"] for v in data["advisor"]["venues"]} >= {"binance-usdm", "okx"}
    page = out.read_text()
    assert '<svg id="fan"' in page and 'class="liq"' in page
    assert "<script" not in page and "http" not in page.replace("http://www.w3.org", "")
    bad = _cli("--scenario", str(sc), "--vol", "0.8", "--candles", str(XRP_5M))
    assert bad.returncode == 2 and "--candles: not used by the gbm model" in bad.stderr
