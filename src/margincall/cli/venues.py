"""``margincall venues``: the venue profiles, their formula forms with publication dates, and built-in markets."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from margincall.venues import VENUES, VenueProfile

_RATIO = {"mm_over_equity": "MM/equity ≥ 100 %", "equity_over_mm": "equity/MM ≤ 100 %"}


def profile_json(p: VenueProfile) -> dict[str, Any]:
    """Everything the table shows, exactly (fees as Decimal strings), and the calculator's question sections the
    venue answers, with the section of docs/venues.md of its rule."""
    return {
        "venue": p.name,
        "title": p.title,
        "kind": p.kind.value,
        "settle_asset": p.settle_asset,
        "margin_ratio_convention": p.ratio_convention.value,
        "taker_fee": str(p.taker_fee),
        "maker_fee": str(p.maker_fee),
        "liquidation_fee_rate": str(p.liquidation_fee_rate),
        "price_rounding": p.price_rounding.value,
        "formulas": [
            {
                "name": f.name,
                "default": i == 0,
                "published": f.published,
                "source": f.source,
                "docs": f"docs/venues.md {f.section}",
            }
            for i, f in enumerate(p.forms)
        ],
        "sections": {
            section: f"docs/venues.md {rule.section}"
            for section, rule in (
                ("mark_price", p.mark),
                ("funding", p.funding),
                ("fillable_price", p.fillable),
                ("collateral", p.collateral),
                ("margin_ratio_check", p.legacy_ratio),
            )
            if rule is not None
        },
        "markets": [
            {
                "symbol": s,
                "base": m.base,
                "tick_size": str(m.instrument.tick_size),
                "tier_tables": [{"as_of": t.as_of, "source": t.source} for t in m.tables.values()],
            }
            for s, m in p.markets.items()
        ],
    }


def venues(as_json: Annotated[bool, typer.Option("--json", help="print the profiles as JSON")] = False) -> None:
    """List venue profiles: formula forms (the default, the venue's current rule, first) with the date each was
    published and where docs/venues.md describes it, the margin-ratio convention, built-in markets and the
    dates of their tier tables."""
    if as_json:
        typer.echo(json.dumps([profile_json(p) for p in VENUES.values()], indent=2))
        return
    table = Table(
        title="margincall venue profiles",
        caption="* default form: the venue's current published rule. Liquidated at the margin ratio shown.",
        show_lines=True,
    )
    table.add_column("venue", no_wrap=True)
    table.add_column("formula  published  docs/venues.md")
    table.add_column("built-in markets: tier tables")
    for p in VENUES.values():
        forms = "\n".join(f"{f.name}{'*' if i == 0 else ''}  {f.published}  {f.section}" for i, f in enumerate(p.forms))
        markets = "\n".join(f"{s}: {', '.join(m.tables)}" for s, m in p.markets.items()) or "—"
        venue = f"[bold]{p.name}[/bold]\n{p.kind.value}, {p.settle_asset}\n{_RATIO[p.ratio_convention.value]}"
        table.add_row(venue, forms, markets)
    Console().print(table)
