"""``margincall calc --compare``: one position on every venue profile, side by side (80 columns)."""

from __future__ import annotations

import json
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from margincall.calculator.compare import Comparison, compare_venues, comparison_to_json
from margincall.cli.fmt import fixed, money, percent, price, readable
from margincall.model.errors import MarginCallError


def _title(template: dict[str, Any], asset: str) -> str:
    p = template["positions"][0]
    mark = f" (mark {readable(p['mark_price'])})" if "mark_price" in p else ""
    margin = ""
    if "isolated_margin" in p:
        margin = f", margin {readable(p['isolated_margin'])}"
    elif "extra_margin" in p:
        margin = f", extra margin {readable(p['extra_margin'])}"
    elif "wallet_balance" in template:
        margin = f", wallet {readable(template['wallet_balance'])}"
    return (
        f"{p['side']} {readable(p['size'])} {asset} @ {readable(p['entry_price'])}{mark}, "
        f"{readable(p['leverage'])}x {p.get('margin_mode', 'cross')}{margin}"
    )


def render_comparison(c: Comparison, template: dict[str, Any], console: Console) -> None:
    """A row per venue: IM and MM in its settle asset, liquidation and bankruptcy prices at its tick, the
    distance from the mark to liquidation; then what each row rests on (formula date, tiers, fee) and why a
    venue has no row."""
    table = Table(title=_title(template, c.asset), box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("venue", no_wrap=True)
    table.add_column("IM", justify="right", no_wrap=True)
    table.add_column("MM", justify="right", no_wrap=True)
    table.add_column("liquidation", justify="right", no_wrap=True)
    table.add_column("bankruptcy", justify="right", no_wrap=True)
    table.add_column("to liq.", justify="right", no_wrap=True)
    notes: list[str] = []
    missing: dict[str, list[str]] = {}
    for r in c.rows:
        if r.result is None:
            missing.setdefault(r.error or "", []).append(r.venue)
            continue
        p = r.result
        table.add_row(
            f"{r.venue} {r.settle_asset}",
            money(_s(p.initial_margin), r.settle_asset, unit=False),
            money(_s(p.maintenance_margin), r.settle_asset, unit=False),
            price(_s(p.liquidation_price)),
            price(_s(p.bankruptcy_price)),
            percent(_s(p.distance_to_liquidation_pct)),
        )
        fee = f", fee {fixed(r.taker_fee * 100, 3)} %" if r.taker_fee is not None else ""
        notes.append(f"{r.venue}: formula {r.formula} ({r.published}), {r.symbol} {r.tiers}{fee}")
    for error, venues in missing.items():
        notes.append(f"{', '.join(venues)}: {error}")
    if c.skipped:
        notes.append(f"{', '.join(v for v, _ in c.skipped)}: skipped, {c.skipped[0][1]}")
    console.print(table)
    for line in notes:
        console.print(f"  {line}", highlight=False)


def _s(value: object) -> str | None:
    return None if value is None else format(value, "f")


def check_compare_flags(
    *, json_file: str | None, venue: str, formula: str | None, target_liq: str | None, ccxt: bool
) -> None:
    """Refuse the calc flags ``--compare`` would not use (each venue is priced by its own default formula)."""
    unused = [
        flag
        for flag, given in (
            ("--json", json_file is not None),
            ("--venue", venue != "generic"),
            ("--formula", formula is not None),
            ("--target-liq", target_liq is not None),
            ("--ccxt", ccxt),
        )
        if given
    ]
    if unused:
        raise MarginCallError(
            f"{', '.join(unused)}: not used with --compare (one position from the flags, priced on every venue by"
            " its default formula)",
            code="unused_input",
            field=unused[0].lstrip("-"),
        )


def run_compare(template: dict[str, Any], *, as_json: bool, console: Console | None = None) -> None:
    """Compare the one position of ``template`` (a scenario dict from the calc flags) across venues."""
    comparison = compare_venues(template)
    if as_json:
        print(json.dumps(comparison_to_json(comparison), indent=2))
        return
    render_comparison(comparison, template, console or Console())
