"""``margincall explain ACCOUNT --log PATH``: the chain of events behind an account's liquidation."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from margincall.cli.ledger import _open
from margincall.model.errors import MarginCallError
from margincall.risk.explain import explain as explain_events
from margincall.risk.explain import liquidation_ids


def explain(
    account: str = typer.Argument(..., help="the account to explain"),
    log: str = typer.Option(None, "--log", help="SQLite path or postgresql:// URL (default: $MARGINCALL_DATABASE_URL)"),
    liquidation: str = typer.Option(None, "--liquidation", help="one liquidation id (default: all)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Print the events that led to ACCOUNT's liquidation, each number with the formula that produced it."""
    events = [{"seq": e.seq, "ts": e.ts, "type": e.type, "payload": e.payload, "result": e.result}
              for e in _open(log).read(0)]
    if not liquidation_ids(events, account):
        raise MarginCallError(f"account {account!r} has no liquidation in this log", code="not_found",
                              field="account")
    steps = explain_events(events, account, liquidation_id=liquidation)
    if as_json:
        print(json.dumps([{"seq": s.seq, "ts": s.ts, "type": s.type,
                           "numbers": [{"name": n.name, "value": n.value, "formula": n.formula} for n in s.numbers]}
                          for s in steps], default=str))
        return
    console = Console()
    for s in steps:
        table = Table(title=f"#{s.seq}  {s.type}  (ts {s.ts})", title_justify="left", show_header=False)
        table.add_column("name")
        table.add_column("value")
        table.add_column("formula", style="dim")
        for n in s.numbers:
            value = json.dumps(n.value) if isinstance(n.value, dict | list) else str(n.value)
            table.add_row(n.name, value, n.formula or "")
        console.print(table)
