"""``margincall stress``: the probability a calculator scenario is liquidated within a horizon, and the advisor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from margincall.cli.calc import _read
from margincall.model.errors import MarginCallError
from margincall.stress.advisor import Advice, advise
from margincall.stress.models import (
    BootstrapModel,
    GBMModel,
    MertonModel,
    PriceModel,
    StressInputError,
    duration,
    short_duration,
)
from margincall.stress.paths import warm_up
from margincall.stress.report import to_html, to_json
from margincall.stress.run import StressResult, run_stress

_MODELS = ("gbm", "merton", "bootstrap")


def _model(name: str, *, vol: float | None, drift: float | None, jump_rate: float | None, jump_mean: float | None,
           jump_vol: float | None, candles: Path | None) -> PriceModel:
    if name not in _MODELS:
        raise StressInputError(f"model: one of {', '.join(_MODELS)}, not {name!r}", field="model")
    uses = {"gbm": {"vol", "drift"}, "merton": {"vol", "drift", "jump-rate", "jump-mean", "jump-vol"},
            "bootstrap": {"candles"}}[name]
    given = {"vol": vol, "drift": drift, "jump-rate": jump_rate, "jump-mean": jump_mean, "jump-vol": jump_vol,
             "candles": candles}
    unused = sorted(k for k, v in given.items() if v is not None and k not in uses)
    if unused:
        raise MarginCallError(f"--{unused[0]}: not used by the {name} model", code="unused_input", field=unused[0])
    needs = sorted(k for k in uses - {"drift"} if given[k] is None)
    if needs:
        raise StressInputError(f"--{needs[0]}: required by the {name} model", field=needs[0])
    if name == "gbm":
        return GBMModel(float(vol or 0), float(drift or 0))
    if name == "merton":
        return MertonModel(float(vol or 0), float(jump_rate or 0), float(jump_mean or 0), float(jump_vol or 0),
                           float(drift or 0))
    assert candles is not None
    return BootstrapModel.from_candles(candles)


def _render(result: StressResult, advice: Advice | None, console: Console) -> None:
    console.print(f"[bold]stress[/] {result.venue} {result.symbol} from {result.start:g} · {result.model} · "
                  f"{result.paths:,} paths, step {short_duration(result.step)}", highlight=False)
    for b in result.barriers:
        console.print(f"  position {b.index}: {b.side} {b.margin_mode}, liquidation {b.liquidation_price}",
                      highlight=False)
    table = Table("horizon", "P(liquidated)", "± s.e.", *(f"pos {b.index}" for b in result.barriers),
                  box=box.SIMPLE_HEAD, title="probability of liquidation by the horizon", title_justify="left")
    df = result.probabilities()
    rows = sorted(set(range(len(df) - 1, -1, -max(1, len(df) // 8))))
    for k in rows:
        r = df.iloc[k]
        table.add_row(short_duration(r["horizon"]), f"{r['account'] * 100:.2f} %", f"{r['account_se'] * 100:.2f}",
                      *(f"{r[f'position_{b.index}'] * 100:.2f} %" for b in result.barriers))
    console.print(table)
    console.print(f"  {result.confirmed} path extremes decided by the exact rule ({result.overturned} overturned)",
                  highlight=False)
    if advice is None:
        return
    adv = Table("venue", "symbol", "safe lev.", "P at it", "liquidation", "P at +1x", box=box.SIMPLE_HEAD,
                title=f"safe leverage: P(liquidated within {short_duration(advice.horizon)}) < {advice.p:g}",
                title_justify="left")
    for v in advice.venues:
        adv.add_row(v.venue, v.symbol, "—" if v.safe_leverage is None else f"{v.safe_leverage}x",
                    "" if v.probability is None else f"{v.probability * 100:.2f} %",
                    "" if v.liquidation_price is None else str(v.liquidation_price),
                    "" if v.next_probability is None else f"{v.next_probability * 100:.2f} %")
    console.print(adv)
    for v in advice.venues:
        if v.note:
            console.print(f"  {v.venue}: {v.note}", highlight=False)


def stress(
    scenario: Annotated[str, typer.Option("--scenario", help="calculator scenario JSON file ('-' for stdin)")],
    horizon: Annotated[str, typer.Option("--horizon", help="e.g. 30d, 12h")] = "30d",
    model: Annotated[str, typer.Option("--model", help="gbm | merton | bootstrap")] = "gbm",
    vol: Annotated[float | None, typer.Option("--vol", help="annual volatility (0.8 = 80 %)")] = None,
    drift: Annotated[float | None, typer.Option("--drift", help="annual drift μ")] = None,
    jump_rate: Annotated[float | None, typer.Option("--jump-rate", help="jumps a year (merton)")] = None,
    jump_mean: Annotated[float | None, typer.Option("--jump-mean", help="mean log jump (merton)")] = None,
    jump_vol: Annotated[float | None, typer.Option("--jump-vol", help="std. dev. of the log jump (merton)")] = None,
    candles: Annotated[Path | None, typer.Option("--candles", help="candles to bootstrap returns from")] = None,
    step: Annotated[str | None, typer.Option("--step", help="path step (default 1h; bootstrap: the candles')")] = None,
    paths: Annotated[int, typer.Option("--paths", help="number of paths")] = 20_000,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    symbol: Annotated[str | None, typer.Option("--symbol", help="the symbol whose mark moves")] = None,
    advise_p: Annotated[float | None, typer.Option("--advise", help="safe leverage per venue: P below this")] = None,
    html: Annotated[Path | None, typer.Option("--html", help="write an HTML report (fan chart)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON as the last line")] = False,
) -> None:
    """Probability that the scenario is liquidated within the horizon under a price model (a Rich table, a fan
    chart in HTML); with --advise P, the highest leverage below probability P on every venue."""
    price_model = _model(model, vol=vol, drift=drift, jump_rate=jump_rate, jump_mean=jump_mean, jump_vol=jump_vol,
                         candles=candles)
    try:
        data: dict[str, Any] = json.loads(_read(scenario))
    except json.JSONDecodeError as exc:
        raise MarginCallError(f"scenario: not JSON: {exc}", field="scenario") from None
    h = duration(horizon, "horizon")
    s = None if step is None else duration(step, "step")
    warm_up()
    result = run_stress(data, price_model, h, step=s, paths=paths, seed=seed, symbol=symbol)
    advice = None
    if advise_p is not None:
        advice = advise(data, price_model, h, advise_p, step=s, paths=paths, seed=seed)
    if html is not None:
        html.write_text(to_html(result, advice), encoding="utf-8")
    if as_json:
        print(json.dumps(to_json(result, advice)))
        return
    _render(result, advice, Console())
