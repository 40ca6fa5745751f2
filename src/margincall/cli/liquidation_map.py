"""``margincall liquidation-map``: the liquidation map of a book in the terminal (80 columns), as JSON, or as a
self-contained HTML chart.

:func:`render_map` is the face any book source uses (a map scenario here; ``calc --book --map`` builds its
:class:`~margincall.calculator.liquidation_map.LiquidationMap` with ``build_map`` and calls it too).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from margincall.calculator.liquidation_map import (
    DEFAULT_RANGE,
    DEFAULT_STEPS,
    LiquidationMap,
    SymbolEntry,
    build_map,
    map_to_json,
    scenario_rows,
)
from margincall.cli.fmt import fixed, money, price, readable
from margincall.model.errors import MarginCallError
from margincall.model.numbers import to_decimal
from margincall.web.liquidation_map import render_html

#: At most this many rows of moves per side in the terminal (every step is in --json and the HTML chart).
ROWS_PER_SIDE = 10


def _shown(steps: int) -> list[int]:
    """The grid's indexes shown: every ``stride``-th move from 0 outwards, and both ends."""
    stride = max(1, math.ceil(steps / ROWS_PER_SIDE))
    ks = sorted({*range(0, steps + 1, stride), steps})
    return sorted({steps - k for k in ks} | {steps + k for k in ks})


def _symbol_table(e: SymbolEntry, steps: int) -> Table:
    m, asset = e.map, e.settle_asset
    title = (f"{e.symbol}  mark {price(format(m.mark, 'f'))} · {m.positions} position{'s' if m.positions != 1 else ''}"
             f"{f' ({m.no_liquidation_price} never liquidated)' if m.no_liquidation_price else ''}"
             f" · fund {money(format(e.fund, 'f'), asset)}")
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("move", justify="right", no_wrap=True)
    table.add_column("mark at", justify="right", no_wrap=True)
    table.add_column("liq.", justify="right", no_wrap=True)
    table.add_column(f"notional {asset}", justify="right", no_wrap=True)
    table.add_column("deficit", justify="right", no_wrap=True)
    table.add_column("to ADL", justify="right", no_wrap=True)
    for i in _shown(steps):
        if i < steps:
            count, notional, who = m.long_count[i], m.long_notional[i], "L"
        elif i > steps:
            count, notional, who = m.short_count[i], m.short_notional[i], "S"
        else:
            count, notional, who = m.long_count[i] + m.short_count[i], m.long_notional[i] + m.short_notional[i], ""
        move = m.moves[i] * 100
        table.add_row(
            f"{'+' if move > 0 else ''}{fixed(move, 1)} %", readable(m.prices[i]), f"{count:,} {who}".strip(),
            money(format(notional, "f"), asset, unit=False), money(format(m.deficit[i], "f"), asset, unit=False),
            money(format(e.shortfall[i], "f"), asset, unit=False) if e.shortfall[i] else "—",
        )
    return table


def render_map(m: LiquidationMap, html_out: Path | None = None, *, console: Console | None = None,
               as_json: bool = False) -> None:
    """Print ``m`` as one table per symbol (L: longs liquidated by the fall, S: shorts by the rise, both at
    0), or as JSON with ``as_json``; with ``html_out`` also write the self-contained HTML chart there."""
    out = console or Console(width=80)
    data = map_to_json(m)
    if html_out is not None:
        html_out.write_text(render_html(data), encoding="utf-8")
    if as_json:
        sys.stdout.write(json.dumps(data) + "\n")
        return
    if not m.symbols:
        out.print("no positions")
    for e in m.symbols:
        out.print(_symbol_table(e, m.steps))
    out.print(f"moves of one symbol at a time, the others still; cumulative from the current mark. "
              f"deficit: the loss past the bankruptcy prices at the moved mark; to ADL: what the fund "
              f"cannot pay.{f' chart: {html_out}' if html_out is not None else ''}", style="dim")


def liquidation_map(
    file: Annotated[Path, typer.Argument(help="a map scenario JSON ({accounts: [scenario…], insurance_fund: "
                                              "{asset: balance}}) or one calc scenario; - for stdin")],
    range_: Annotated[str, typer.Option("--range", help="the largest move each way, as a fraction")] = str(
        DEFAULT_RANGE),
    steps: Annotated[int, typer.Option(help="steps on each side of the mark")] = DEFAULT_STEPS,
    symbol: Annotated[str | None, typer.Option(help="only this symbol")] = None,
    html: Annotated[Path | None, typer.Option("--html", help="also write a self-contained HTML chart")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the exact map as JSON")] = False,
) -> None:
    """The liquidation map of a book: per symbol, the positions and notional liquidated as the mark moves down
    and up, and the insurance fund against the deficit the moves leave."""
    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
        data: Any = json.loads(text)
    except (OSError, json.JSONDecodeError) as exc:
        raise MarginCallError(f"{file}: {exc}", field="file") from None
    rows, instruments, funds = scenario_rows(data)
    m = build_map([rows], instruments, fund=funds, span=to_decimal(range_, "range"), steps=steps, symbol=symbol)
    if symbol is not None and not m.symbols:
        raise MarginCallError(f"symbol: no position in {symbol!r}", field="symbol")
    render_map(m, html, as_json=as_json)
