"""``margincall calc --json FILE --table``: the answers of a scenario's question sections as tables.

Display only, rounded for reading (rates as percentages, numbers to at most 8 places, a tick-rounded price with
all its digits); the JSON output keeps the exact values.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from margincall.cli.fmt import price, readable


def _pct(value: str | None) -> str:
    return "—" if value is None else f"{readable(Decimal(value) * 100)} %"


def _num(value: str | None) -> str:
    return "—" if value is None else readable(value)


def _hours(value: str) -> str:
    return f"{readable(value)} h"


def _table(title: str, docs: str) -> Table:
    # As wide as its title, so that the title is never wrapped inside an 80-column terminal.
    table = Table(title=title, caption=docs, show_header=False, min_width=len(title) + 2)
    table.add_column("quantity", style="bold")
    table.add_column("value", justify="right")
    return table


def _rows(table: Table, rows: list[tuple[str, str | None]]) -> Table:
    for label, shown in rows:
        if shown is not None:
            table.add_row(label, shown)
    return table


def _mark(venue: str, m: dict[str, Any]) -> Table:
    return _rows(
        _table(f"{venue} · mark price", m["docs"]),
        [
            ("Price 1 (funding basis)", _num(m["price_1"])),
            ("Price 2 (index + basis MA)", None if m["price_2"] is None else _num(m["price_2"])),
            ("Mark (median with last)", None if m["mark_price"] is None else _num(m["mark_price"])),
            ("Funding interval", _hours(m["funding_interval_hours"])),
        ],
    )


def _funding(venue: str, f: dict[str, Any]) -> Table:
    asked_rate = f["funding_rate_8h"] is not None
    return _rows(
        _table(f"{venue} · funding", f["docs"]),
        [
            ("Premium index", _pct(f["premium_index"]) if asked_rate else None),
            ("Interest rate (8 h)", _pct(f["interest_rate"]) if asked_rate else None),
            ("Funding rate (8 h)", _pct(f["funding_rate_8h"]) if asked_rate else None),
            ("Paid every", _hours(f["interval_hours"])),
            ("Cap", None if f["cap"] is None else f"±{_pct(f['cap'])} {f['cap_period']}"),
            ("Rate within the cap", None if f["funding_rate_capped"] is None else _pct(f["funding_rate_capped"])),
            ("Impact notional", None if f["impact_notional"] is None else _num(f["impact_notional"])),
        ],
    )


def _fillable(venue: str, f: dict[str, Any]) -> Table:
    return _rows(
        _table(f"{venue} · fillable price", f["docs"]),
        [
            ("Position liquidated", f["side"]),
            ("Fillable price", _num(f["fillable_price"])),
            ("  on the tick", None if f["fillable_price_rounded"] is None else price(f["fillable_price_rounded"])),
            ("Spread to MMR (SMMR)", _num(f["spread_to_mmr"])),
            ("Bankruptcy adjustment (BA)", _num(f["bankruptcy_adjustment"])),
        ],
    )


def _collateral(venue: str, c: dict[str, Any]) -> Table:
    table = Table(title=f"{venue} · collateral", caption=c["docs"])
    for name in ("asset", "amount", "price", "weight", "value"):
        table.add_column(name, justify="left" if name == "asset" else "right")
    for a in c["assets"]:
        table.add_row(a["asset"], _num(a["amount"]), _num(a["price"]), _num(a["weight"]), _num(a["value"]))
    table.add_row("[bold]total[/bold]", "", "", "", f"[bold]{_num(c['total'])}[/bold]")
    return table


def _ratio_check(venue: str, m: dict[str, Any]) -> Table:
    return _rows(
        _table(f"{venue} · {m['published']} margin ratio", m["docs"]),
        [
            ("Margin ratio", _pct(m["margin_ratio"])),
            ("Liquidated below (MMR + fee)", _pct(m["threshold"])),
            ("Liquidated", "yes" if m["liquidated"] else "no"),
        ],
    )


_RENDER = {
    "mark_price": _mark,
    "funding": _funding,
    "fillable_price": _fillable,
    "collateral": _collateral,
    "margin_ratio_check": _ratio_check,
}


def render_quantities(result: dict[str, Any], console: Console) -> None:
    """A table for each section the result answers, in the scenario schema's order."""
    for name, render in _RENDER.items():
        if name in result:
            console.print(render(result["venue"], result[name]))
