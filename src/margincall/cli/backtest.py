"""``margincall backtest``: replay a trade list against price history through the service's engine."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import pandas as pd  # type: ignore[import-untyped]
import typer
from rich.console import Console
from rich.table import Table

from margincall.backtest.compare import compare_freqtrade, comparison_summary
from margincall.backtest.io import (
    BacktestInputError,
    datadir_files,
    parse_freqtrade_name,
    read_candles,
    read_freqtrade_result,
    read_funding,
    read_instruments,
    read_trades,
)
from margincall.backtest.replay import Replay
from margincall.backtest.report import summary, to_html, to_json, trades_table
from margincall.backtest.results import BacktestResult
from margincall.backtest.trades import parse_trades


def _by_symbol(path: Path | None, symbols: list[str], what: str) -> dict[str, Path]:
    if path is None:
        return {}
    parsed = parse_freqtrade_name(path)
    if parsed is not None and parsed[0] in symbols:
        return {parsed[0]: path}
    if len(symbols) == 1:
        return {symbols[0]: path}
    raise BacktestInputError(f"--{what}: {path.name} does not name one of the trades' symbols "
                             f"({', '.join(symbols)}); use --datadir for several symbols", field=what)


def backtest(
    trades: Annotated[Path | None, typer.Option("--trades", help="trades CSV/JSON or a freqtrade result")] = None,
    venue: Annotated[str, typer.Option("--venue", help="venue profile (margincall venues)")] = "binance-usdm",
    candles: Annotated[Path | None, typer.Option("--candles", help="trade candles (freqtrade, CSV, Parquet)")] = None,
    mark: Annotated[Path | None, typer.Option("--mark", help="mark candles (the liquidation path)")] = None,
    funding: Annotated[Path | None, typer.Option("--funding", help="funding rates file")] = None,
    fine_candles: Annotated[Path | None, typer.Option(
        "--fine-candles", help="finer trade candles (e.g. 5m under 1h --candles), replayed inside a coarse candle "
        "that could liquidate")] = None,
    fine_mark: Annotated[Path | None, typer.Option("--fine-mark", help="finer mark candles, likewise")] = None,
    datadir: Annotated[Path | None, typer.Option("--datadir", help="freqtrade data directory")] = None,
    instruments: Annotated[Path | None, typer.Option("--instruments", help="JSON {symbol: instrument}: the "
                                                     "calculator's schema (tiers, mmr, a ccxt/venue tier payload …)")
                           ] = None,
    wallet: Annotated[str | None, typer.Option("--wallet", help="every account's starting balance")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON as the last line")] = False,
    csv: Annotated[Path | None, typer.Option("--csv", help="write the per-trade table as CSV")] = None,
    html: Annotated[Path | None, typer.Option("--html", help="write an HTML report")] = None,
    compare_freqtrade: Annotated[Path | None, typer.Option(
        "--compare-freqtrade", help="a freqtrade backtest result (JSON or zip): replay its trades and list the "
        "liquidations that differ from freqtrade's, with the reason")] = None,
    freqtrade_buffer: Annotated[str, typer.Option(
        "--freqtrade-buffer", help="freqtrade's liquidation_buffer in that run")] = "0.05",
) -> None:
    """Replay trades against candles through the service's ledger and risk engine: the venue's own
    liquidation (tiers, fees, funding, partial steps, liquidation fee) on the mark path."""
    if trades is None:
        if compare_freqtrade is None:
            raise BacktestInputError("--trades: missing (or give --compare-freqtrade RESULT)", field="trades")
        trades = compare_freqtrade
    elif compare_freqtrade is not None and trades.resolve() != compare_freqtrade.resolve():
        raise BacktestInputError("--trades and --compare-freqtrade name different files: the comparison replays "
                                 "the freqtrade result's own trades", field="trades")
    parsed = parse_trades(read_trades(trades))
    symbols = sorted({t.symbol for t in parsed})
    files: dict[str, dict[str, Path]] = {}
    if datadir is not None:
        files = datadir_files(datadir)
    for kind, given in (("futures", candles), ("mark", mark), ("funding_rate", funding)):
        for s, p in _by_symbol(given, symbols, kind).items():
            files.setdefault(s, {})[kind] = p
    candle_frames = {s: read_candles(f["futures"]) for s, f in files.items() if "futures" in f and s in symbols}
    mark_frames = {s: read_candles(f["mark"]) for s, f in files.items() if "mark" in f and s in symbols}
    funding_frames = {s: read_funding(f["funding_rate"]) for s, f in files.items()
                      if "funding_rate" in f and s in symbols}
    fine_frames = {s: read_candles(p) for s, p in _by_symbol(fine_candles, symbols, "fine-candles").items()}
    fine_mark_frames = {s: read_candles(p) for s, p in _by_symbol(fine_mark, symbols, "fine-mark").items()}
    try:
        w = None if wallet is None else Decimal(wallet)
    except InvalidOperation:
        raise BacktestInputError(f"--wallet: not a number: {wallet!r}", field="wallet") from None
    result = Replay(venue, parsed, candle_frames, mark_frames or None, funding_frames or None,
                    read_instruments(instruments) if instruments else None, w, fine_candles=fine_frames or None,
                    fine_marks=fine_mark_frames or None).run()
    if csv is not None:
        trades_table(result).to_csv(csv, index=False)
    if html is not None:
        html.write_text(to_html(result))
    if compare_freqtrade is not None:
        _print_comparison(compare_freqtrade, result, freqtrade_buffer, as_json)
        return
    if as_json:
        print(to_json(result))
        return
    console = Console()
    facts = summary(result)
    console.print(f"[bold]backtest[/] {facts['venue']} · liquidation checked on the {facts['mark_path']} · "
                  f"{facts['trades']} trades, {facts['liquidated']} liquidated · net {facts['net']}")
    table = Table("id", "side", "lev", "entry", "exit", "PnL", "fees", "funding", "liquidated at")
    df = trades_table(result)
    for row in df.itertuples():
        liq = "" if not row.liquidated else f"{row.liquidation_time} @ {row.liquidation_price}"
        table.add_row(str(row.id), str(row.side), str(row.leverage), str(row.entry_price),
                      "" if pd.isna(row.exit_price) else str(row.exit_price), str(row.realized_pnl), str(row.fees),
                      str(row.funding), liq)
    console.print(table)


def _print_comparison(path: Path, result: BacktestResult, buffer_text: str, as_json: bool) -> None:
    try:
        buffer = Decimal(buffer_text)
    except InvalidOperation:
        raise BacktestInputError(f"--freqtrade-buffer: not a number: {buffer_text!r}", field="freqtrade_buffer") \
            from None
    if not buffer.is_finite() or not 0 <= buffer < 1:
        raise BacktestInputError("--freqtrade-buffer: expected 0 ≤ buffer < 1", field="freqtrade_buffer")
    rows = compare_freqtrade(read_freqtrade_result(path), result, buffer=buffer)
    facts = comparison_summary(rows, buffer)
    if as_json:
        print(json.dumps({"comparison": facts, "mark_path": summary(result)["mark_path"],
                          "differences": [c.as_dict() for c in rows if c.differs]}, separators=(",", ":")))
        return
    console = Console()
    console.print(f"[bold]margincall vs freqtrade[/] · liquidation checked on the {summary(result)['mark_path']} · "
                  f"{facts['trades']} trades · liquidated: freqtrade {facts['freqtrade_liquidated']}, margincall "
                  f"{facts['margincall_liquidated']} · [bold]{facts['differ']} differ[/]")
    table = Table("id", "side", "stake", "freqtrade exit", "freqtrade liq. price", "margincall liquidated at",
                  "venue liq. price", "reasons")
    for c in rows:
        if not c.differs:
            continue
        d = c.as_dict()
        ft = f"{d['freqtrade_exit_reason']} {d['freqtrade_time']}" + (f" @ {d['freqtrade_price']}"
                                                                      if c.freqtrade_price is not None else "")
        mc = (f"{d['margincall_time']} @ {c.margincall_price:.6f}" if c.margincall_liquidated and c.margincall_price
              is not None else "not liquidated")
        table.add_row(c.id, c.side, f"{c.stake:.2f}", ft, f"{c.freqtrade_liquidation_price:.6f}", mc,
                      "" if c.margincall_liquidation_price is None else f"{c.margincall_liquidation_price:.6f}",
                      ", ".join(c.reasons))
    console.print(table)
    for k, text in facts["reasons"].items():
        if k in facts["by_reason"]:
            console.print(f"  [bold]{k}[/] ({facts['by_reason'][k]}): {text}")
