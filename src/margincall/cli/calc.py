"""``margincall calc``: the liquidation calculator from a JSON scenario or from flags for one position."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from margincall.calculator import calculate
from margincall.cli.fmt import CONVENTION_LABEL as _CONVENTION_LABEL
from margincall.cli.fmt import money as _money
from margincall.cli.fmt import percent as _percent
from margincall.cli.fmt import price as _price
from margincall.cli.fmt import unrounded as _unrounded
from margincall.model.errors import MarginCallError
from margincall.venues import VENUES


def _read(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    path = Path(source)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MarginCallError(f"no such file: {source}", code="file_not_found") from None
    except (IsADirectoryError, UnicodeDecodeError, PermissionError) as exc:
        raise MarginCallError(f"cannot read {source}: {exc}", code="file_unreadable") from None


def _scenario_from_flags(
    venue: str,
    symbol: str | None,
    side: str,
    size: str,
    entry: str,
    mark: str | None,
    leverage: str,
    margin_mode: str,
    wallet: str | None,
    extra_margin: str | None,
    isolated_margin: str | None,
    mmr: str | None,
    maintenance_amount: str | None,
    max_leverage: str | None,
    kind: str | None,
    contract_size: str | None,
    tick_size: str | None,
    taker_fee: str | None,
    formula: str | None,
    target_liq: str | None,
    position_side: str,
) -> dict[str, Any]:
    profile = VENUES.get(venue)
    if symbol is None:
        if profile is not None and profile.markets and mmr is None and max_leverage is None:
            symbol = next(iter(profile.markets))
        else:
            symbol = "BTCUSDT"
    instrument: dict[str, Any] = {}
    for key, value in (
        ("mmr", mmr),
        ("maintenance_amount", maintenance_amount),
        ("max_leverage", max_leverage),
        ("kind", kind),
        ("contract_size", contract_size),
        ("tick_size", tick_size),
    ):
        if value is not None:
            instrument[key] = value
    position: dict[str, Any] = {
        "symbol": symbol,
        "side": side,
        "size": size,
        "entry_price": entry,
        "leverage": leverage,
        "margin_mode": margin_mode,
        "position_side": position_side,
    }
    for key, value in (
        ("mark_price", mark),
        ("extra_margin", extra_margin),
        ("isolated_margin", isolated_margin),
        ("target_liquidation_price", target_liq),
    ):
        if value is not None:
            position[key] = value
    scenario: dict[str, Any] = {"venue": venue, "positions": [position]}
    if instrument:
        scenario["instruments"] = {symbol: instrument}
    if wallet is not None:
        scenario["wallet_balance"] = wallet
    if taker_fee is not None:
        scenario["taker_fee"] = taker_fee
    if formula is not None:
        scenario["formula"] = formula
    return scenario


def _render(result: dict[str, Any], console: Console) -> None:
    """The result as a table per position, rounded for reading: money to the settle asset's usual places
    (2 for USD stablecoins, 8 for coins), percentages to 2 places, prices to their tick. Display only."""
    account = result["account"]
    asset = account["settle_asset"]
    convention = _CONVENTION_LABEL.get(account["margin_ratio_convention"], account["margin_ratio_convention"])
    for p in result["positions"]:
        table = Table(title=f"{result['venue']} · {p['symbol']} {p['side']} ({p['margin_mode']})", show_header=False)
        table.add_column("quantity", style="bold")
        table.add_column("value", justify="right")
        rows: list[tuple[str, str | None, str]] = [
            ("Notional", p["notional"], _money(p["notional"], asset)),
            ("Initial margin", p["initial_margin"], _money(p["initial_margin"], asset)),
            ("Maintenance margin", p["maintenance_margin"], _money(p["maintenance_margin"], asset)),
            ("Position margin", p["position_margin"], _money(p["position_margin"], asset)),
            ("Unrealized PnL", p["unrealized_pnl"], _money(p["unrealized_pnl"], asset)),
            ("Liquidation price", p["liquidation_price"], _price(p["liquidation_price"])),
            (
                "  (unrounded)",
                p["liquidation_price_unrounded"],
                _unrounded(p["liquidation_price_unrounded"], p["liquidation_price"]),
            ),
            ("Bankruptcy price", p["bankruptcy_price"], _price(p["bankruptcy_price"])),
            ("Distance to liquidation", p["distance_to_liquidation_pct"], _percent(p["distance_to_liquidation_pct"])),
            ("Margin ratio", p["margin_ratio"], f"{_percent(p['margin_ratio'], scale=100)} ({convention})"),
            ("Tier", str(p["tier"]), str(p["tier"])),
            ("Margin to add for target", p["margin_to_add"], _money(p["margin_to_add"], asset)),
        ]
        for label, raw, shown in rows:
            if raw is None and label in ("Position margin", "Margin to add for target"):
                continue
            table.add_row(label, shown)
        console.print(table)
    if any(p["margin_mode"] == "cross" for p in result["positions"]):
        console.print(
            f"Cross account: equity {_money(account['equity'], asset)}, "
            f"MM {_money(account['maintenance_margin'], asset)}, "
            f"margin ratio {_percent(account['margin_ratio'], scale=100)} ({convention}), "
            f"available {_money(account['available_balance'], asset)}"
        )


Opt = Annotated[str | None, typer.Option()]


def calc(
    json_file: Annotated[str | None, typer.Option("--json", help="scenario JSON file, '-' for stdin")] = None,
    venue: Annotated[str, typer.Option(help=f"one of: {', '.join(VENUES)}")] = "generic",
    symbol: Opt = None,
    side: Annotated[str, typer.Option(help="long or short")] = "long",
    size: Annotated[str | None, typer.Option(help="contracts (base units for linear, USD contracts inverse)")] = None,
    entry: Annotated[str | None, typer.Option(help="entry price")] = None,
    mark: Annotated[str | None, typer.Option(help="mark price (default: entry)")] = None,
    leverage: Annotated[str, typer.Option()] = "1",
    margin_mode: Annotated[str, typer.Option(help="isolated or cross")] = "isolated",
    wallet: Annotated[str | None, typer.Option(help="cross wallet balance")] = None,
    extra_margin: Opt = None,
    isolated_margin: Opt = None,
    mmr: Annotated[str | None, typer.Option(help="maintenance margin rate (one tier)")] = None,
    maintenance_amount: Opt = None,
    max_leverage: Opt = None,
    kind: Annotated[str | None, typer.Option(help="linear or inverse")] = None,
    contract_size: Opt = None,
    tick_size: Opt = None,
    taker_fee: Opt = None,
    formula: Annotated[str | None, typer.Option(help="venue formula form, e.g. bybit: legacy, 2024, 2026")] = None,
    target_liq: Annotated[str | None, typer.Option("--target-liq", help="show the margin to add for this LP")] = None,
    position_side: Annotated[str, typer.Option(help="both (one-way) or long/short (hedge leg)")] = "both",
    output_json: Annotated[bool, typer.Option("--output-json", help="print JSON instead of a table")] = False,
    table: Annotated[bool, typer.Option("--table", help="with --json FILE: print tables instead of JSON")] = False,
    ccxt: Annotated[bool, typer.Option("--ccxt", help="print ccxt unified Position dicts")] = False,
    compare: Annotated[bool, typer.Option("--compare", help="the one position on every venue, side by side")] = False,
    ccxt_positions: Annotated[
        str | None, typer.Option(help="ccxt fetch_positions() JSON: check the venue's liquidation prices")
    ] = None,
    ccxt_balance: Annotated[str | None, typer.Option(help="ccxt fetch_balance() JSON (cross wallet)")] = None,
    instruments: Annotated[str | None, typer.Option(help="instruments JSON (scenario schema), by symbol")] = None,
    book: Annotated[str | None, typer.Option(help="a book: CSV, Parquet or JSON lines, one row per position")] = None,
    out: Annotated[str | None, typer.Option(help="--book: write the rows priced to .csv/.parquet/.jsonl")] = None,
    strict: Annotated[bool, typer.Option(help="--book: stop at the first bad row")] = False,
    quiet: Annotated[bool, typer.Option(help="--book: no progress bar")] = False,
    map_: Annotated[bool, typer.Option("--map", help="--book: print the book's liquidation map")] = False,
    map_html: Annotated[str | None, typer.Option(help="--map: also write a self-contained HTML chart")] = None,
    insurance_fund: Annotated[list[str] | None, typer.Option(help="--map: ASSET=AMOUNT, repeatable")] = None,
    map_range: Annotated[str | None, typer.Option(help="--map: the largest move each way (default 0.3)")] = None,
    map_steps: Annotated[int | None, typer.Option(help="--map: steps on each side (default 30)")] = None,
    exact: Annotated[bool, typer.Option(help="--book: the Decimal reference only (slow; same rows)")] = False,
) -> None:
    """Margins, liquidation and bankruptcy prices for a scenario (--json), one position (flags) or a book."""
    from margincall.cli.calc_book import book_command, refuse_book_flags

    given = {
        "--json": json_file is not None,
        "--size": size is not None,
        "--entry": entry is not None,
        "--compare": compare,
        "--ccxt": ccxt,
        "--ccxt-positions": ccxt_positions is not None,
        "--ccxt-balance": ccxt_balance is not None,
        "--output-json": output_json,
        "--table": table,
        "--venue": venue != "generic",
        "--instruments": instruments is not None,
        "--out": out is not None,
        "--strict": strict,
        "--quiet": quiet,
        "--map": map_,
        "--map-html": map_html is not None,
        "--insurance-fund": bool(insurance_fund),
        "--map-range": map_range is not None,
        "--map-steps": map_steps is not None,
        "--exact": exact,
    }
    refuse_book_flags(book, given)  # fmt: skip
    if book is not None:
        from margincall.cli.calc_book_map import book_map

        mapper = book_map(given, insurance_fund, map_range, map_steps, map_html, as_json=output_json)
        book_command(_read, book, out, instruments, strict=strict, quiet=quiet, exact=exact, book_map=mapper)
        return
    output = "ccxt" if ccxt else "margincall"
    if ccxt_positions is not None or ccxt_balance is not None or instruments is not None:
        from margincall.cli.calc_ccxt import ccxt_check_command

        other = {"--json": json_file is not None, "--size": size is not None, "--entry": entry is not None,
                 "--compare": compare, "--ccxt": ccxt}  # fmt: skip
        ccxt_check_command(_read, ccxt_positions, ccxt_balance, instruments, venue=venue, formula=formula,
                           taker_fee=taker_fee, as_json=output_json, other=other)  # fmt: skip
        return
    if compare:
        from margincall.cli.calc_compare import check_compare_flags

        check_compare_flags(json_file=json_file, venue=venue, formula=formula, target_liq=target_liq, ccxt=ccxt)
    if table and (json_file is None or ccxt):
        raise MarginCallError("--table prints a --json scenario's result as tables (not with --ccxt)", code="usage")
    if json_file is not None:
        answer = calculate(_read(json_file), output=output)
        if not table:
            typer.echo(json.dumps(answer, indent=2))
            return
        from margincall.cli.calc_quantities import render_quantities

        console = Console()
        if "positions" in answer:
            _render(answer, console)
        render_quantities(answer, console)
        return
    if size is None or entry is None:
        raise MarginCallError("give --json FILE, or at least --size and --entry for one position", code="usage")
    scenario = _scenario_from_flags(
        venue,
        symbol,
        side,
        size,
        entry,
        mark,
        leverage,
        margin_mode,
        wallet,
        extra_margin,
        isolated_margin,
        mmr,
        maintenance_amount,
        max_leverage,
        kind,
        contract_size,
        tick_size,
        taker_fee,
        formula,
        target_liq,
        position_side,
    )
    if compare:
        from margincall.cli.calc_compare import run_compare

        run_compare(scenario, as_json=output_json)
        return
    result = calculate(scenario, output=output)
    if output_json or ccxt:
        typer.echo(json.dumps(result, indent=2))
    else:
        _render(result, Console())
