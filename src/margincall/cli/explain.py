"""``margincall explain ACCOUNT --log PATH``: the story of an account's liquidation, then the chain of events behind
it, each number with the formula that produced it (rounded for reading; ``--json`` keeps exact values)."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from margincall.cli.explain_story import story_renderable
from margincall.cli.fmt import iso_utc, money, percent, readable
from margincall.cli.ledger import _open
from margincall.model.errors import MarginCallError
from margincall.risk.explain import Step, liquidation_ids, stories
from margincall.risk.explain import explain as explain_events

#: Numbers that are amounts of the settle asset (shown to its usual places).
_MONEY = {"equity", "maintenance_margin", "deposit_to_healthy", "fee", "liquidation_fee", "realized_pnl", "surplus",
          "insurance_paid", "venue_absorbed", "amount", "paid", "received"}  # fmt: skip


def shown(name: str, value: Any, asset: str | None) -> str:
    """One logged number for reading: money to its asset's places, the margin ratio as a percentage, prices and
    sizes to at most 8 places, a symbol → price map as ``SYMBOL price`` pairs."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {readable(v)}" for k, v in value.items())
    if isinstance(value, list):
        return json.dumps(value)
    if name == "margin_ratio":
        return percent(str(value), scale=100)
    if name in _MONEY and asset:
        return money(str(value), asset)
    return readable(value)


def _table(s: Step) -> Table:
    table = Table(show_header=False)
    table.add_column("name", no_wrap=True)
    table.add_column("value", no_wrap=True)
    if any(n.formula for n in s.numbers):
        table.add_column("formula", style="dim", overflow="fold")
    for n in s.numbers:
        cells = [n.name, shown(n.name, n.value, s.asset)]
        table.add_row(*cells, *([n.formula or ""] if len(table.columns) == 3 else []))
    return table


def explain(
    account: str = typer.Argument(..., help="the account to explain"),
    log: str = typer.Option(None, "--log", help="SQLite path or postgresql:// URL (default: $MARGINCALL_DATABASE_URL)"),
    liquidation: str = typer.Option(None, "--liquidation", help="one liquidation id (default: all)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The story of ACCOUNT's liquidation (when, at which mark, equity against MM, each step, who paid), then the
    events that led to it, each number with the formula that produced it."""
    events = [{"seq": e.seq, "ts": e.ts, "type": e.type, "payload": e.payload, "result": e.result}
              for e in _open(log).read(0)]  # fmt: skip
    if not liquidation_ids(events, account):
        raise MarginCallError(f"account {account!r} has no liquidation in this log", code="not_found",
                              field="account")  # fmt: skip
    steps = explain_events(events, account, liquidation_id=liquidation)
    if as_json:
        print(json.dumps([{"seq": s.seq, "ts": s.ts, "time": iso_utc(s.ts), "type": s.type, "asset": s.asset,
                           "numbers": [{"name": n.name, "value": n.value, "formula": n.formula} for n in s.numbers]}
                          for s in steps], default=str))  # fmt: skip
        return
    console = Console()
    for story in stories(events, account, liquidation_id=liquidation):
        console.print(story_renderable(story))
        console.print()
    for s in steps:
        console.print(f"[bold]#{s.seq}  {s.type}[/bold]  {iso_utc(s.ts)}", highlight=False)
        if s.numbers:
            console.print(_table(s))
