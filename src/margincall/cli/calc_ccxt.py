"""``margincall calc --ccxt-positions FILE [--ccxt-balance FILE] --venue V``: the venue's liquidation prices
checked against margincall's (80 columns; ``--output-json`` for the exact values and the scenarios priced)."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from margincall.calculator.ccxt_positions import CcxtCheck, check_ccxt_positions, check_to_json
from margincall.cli.fmt import fixed, places, price, readable
from margincall.model.errors import MarginCallError
from margincall.model.numbers import to_decimal


def _load(text: str, what: str) -> Any:
    try:
        return json.loads(text, parse_float=str)
    except json.JSONDecodeError as exc:
        raise MarginCallError(f"{what}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                              code="malformed_json", field=what) from None  # fmt: skip


def load_instruments(text: str) -> dict[str, Any]:
    """An instruments file: ``{symbol: instrument}`` in the scenario schema, or a scenario-like object with an
    ``instruments`` key."""
    data = _load(text, "instruments")
    if isinstance(data, dict) and isinstance(data.get("instruments"), dict):
        data = data["instruments"]
    if not isinstance(data, dict):
        raise MarginCallError("instruments: expected an object of symbol → instrument", field="instruments")
    return data


def _small(value: Decimal, places: int, unit: str = "") -> str:
    """A difference for reading: ``places`` decimals, or two significant digits when it is smaller than that."""
    if value != 0 and abs(value) < Decimal(1).scaleb(-places):
        return f"{value:.1e}{unit}"
    return f"{fixed(value, places)}{unit}"


def render_check(check: CcxtCheck, console: Console) -> None:
    """One row per position: the venue's liquidation price (to two places past the tick), margincall's (at the
    tick), and how far margincall's exact price is from the venue's, in price and in percent."""
    table = Table(title=f"{check.venue} (formula {check.formula}): venue vs margincall liquidation price",
                  box=box.SIMPLE_HEAD, title_justify="left")  # fmt: skip
    for name in ("position", "venue", "margincall", "difference", "%"):
        table.add_column(name, justify="left" if name == "position" else "right", no_wrap=True)
    notes = []
    for r in check.rows:
        label = f"{r.venue_symbol} {r.side} {'iso' if r.margin_mode == 'isolated' else r.margin_mode}"
        ours = (
            None if r.result is None or r.result.liquidation_price is None else format(r.result.liquidation_price, "f")
        )
        shown_places = 2 if ours is None else places(ours) + 2
        venue_lp = (
            "—" if r.venue_liquidation_price is None else readable(r.venue_liquidation_price, max_places=shown_places)
        )
        if r.result is None:
            table.add_row(label, venue_lp, "error", "", "")
            notes.append(f"{r.venue_symbol}: {r.error}")
            continue
        diff = pct = "—"
        if r.difference is not None and r.difference_pct is not None:
            diff, pct = _small(r.difference, 4), _small(r.difference_pct, 3)
        table.add_row(label, venue_lp, price(ours), diff, pct)
        notes.append(f"{r.venue_symbol}: tiers {r.tiers}, mark {readable(r.mark_price)}")
    console.print(table)
    for line in [*notes, *(f"skipped {s}" for s in check.skipped)]:
        console.print(f"  {line}", highlight=False)


def ccxt_check_command(
    read: Callable[[str], str],
    positions: str | None,
    balance: str | None,
    instruments: str | None,
    *,
    venue: str,
    formula: str | None,
    taker_fee: str | None,
    as_json: bool,
    other: dict[str, bool],
) -> None:
    """The calc flags of a ccxt check: the files are read with ``read``; flags for a scenario or one position
    (``other``, by flag, whether given) are refused, as is a balance or instruments file without positions."""
    unused = [flag for flag, given in other.items() if given]
    if unused:
        raise MarginCallError(f"{', '.join(unused)}: not used with --ccxt-positions (the positions come from the"
                              " file)", code="unused_input", field=unused[0].lstrip("-"))  # fmt: skip
    if positions is None:
        flag = "--ccxt-balance" if balance is not None else "--instruments"
        raise MarginCallError(f"{flag}: used only with --ccxt-positions FILE", code="unused_input",
                              field=flag.lstrip("-"))  # fmt: skip
    run_ccxt_check(read(positions), None if balance is None else read(balance), venue, formula=formula,
                   taker_fee=taker_fee, instruments_text=None if instruments is None else read(instruments),
                   as_json=as_json)  # fmt: skip


def run_ccxt_check(
    positions_text: str,
    balance_text: str | None,
    venue: str,
    *,
    formula: str | None,
    taker_fee: str | None,
    instruments_text: str | None,
    as_json: bool,
    console: Console | None = None,
) -> None:
    check = check_ccxt_positions(
        _load(positions_text, "ccxt positions"),
        None if balance_text is None else _load(balance_text, "ccxt balance"),
        venue,
        formula=formula,
        taker_fee=None if taker_fee is None else to_decimal(taker_fee, "taker_fee"),
        instruments=None if instruments_text is None else load_instruments(instruments_text),
    )
    if as_json:
        print(json.dumps(check_to_json(check), indent=2))
        return
    render_check(check, console or Console())
