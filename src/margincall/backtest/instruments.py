"""A backtest's instruments: the calculator's instrument schema (or a ccxt/venue tier payload inside it) turned
into the engine's ``market_listed`` payload.

An instruments file maps each symbol to the fields of the calculator's ``instruments`` object
(:class:`margincall.calculator.scenario.InstrumentIn`): ``kind``, ``contract_size``, ``tick_size``, ``lot_size``,
``settle_asset`` and one tier source — ``tiers``, ``tier_table``, ``mmr`` (+ ``maintenance_amount``),
``max_leverage``, or a venue's own payload as ``ccxt_tiers``, ``binance_brackets``, ``bybit_risk_limits``,
``okx_position_tiers`` — plus the listing's fee rates ``maker_fee``, ``taker_fee``, ``liquidation_fee``. The tier
table is read by the calculator's own :func:`~margincall.calculator.evaluate.instrument_tiers` (and so by
:mod:`margincall.venues.loaders` for a payload) and listed as explicit tier rows, so the engine replays exactly
the table the calculator prices. A table whose mode, basis or cap convention is not the venue's is refused: a
listing's tiers take the venue's (:func:`margincall.venues.market.market_from_listing`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from margincall.backtest.io import BacktestInputError
from margincall.calculator.evaluate import instrument_tiers
from margincall.calculator.inputs import refuse_unused_instrument_inputs
from margincall.calculator.scenario import InstrumentIn
from margincall.model.errors import MarginCallError
from margincall.venues.profiles import get_venue

#: listing fields the calculator's schema has no place for (it takes one taker fee per scenario)
FEE_FIELDS = ("maker_fee", "taker_fee", "liquidation_fee")
_INSTRUMENT_FIELDS = ("kind", "contract_size", "tick_size", "lot_size", "settle_asset")
_TIER_SOURCES = ("tiers", "tier_table", "mmr", "max_leverage", "ccxt_tiers", "binance_brackets",
                 "bybit_risk_limits", "okx_position_tiers")


def _s(x: Any) -> str:
    return format(x, "f")


def market_listing(venue: str, symbol: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The ``market_listed`` payload of ``symbol`` on ``venue`` from its instruments-file entry ``fields`` (see
    the module's docstring); an unknown or unused field, a bad tier row or payload is refused with the field
    named (``instruments.<symbol>.<field>``)."""
    where = f"instruments.{symbol}"
    rest = {k: v for k, v in fields.items() if k not in FEE_FIELDS}
    try:
        spec = InstrumentIn.model_validate(rest)
    except ValidationError as exc:
        err = exc.errors()[0]
        path = ".".join(str(p) for p in err["loc"])
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ").removeprefix("number: ")
        raise BacktestInputError(f"{where}.{path}: {msg}", field=f"{where}.{path}") from None
    for i, t in enumerate(spec.tiers or ()):
        if t.imr is not None:  # the engine's initial margin is notional / leverage; a tier IMR would be unused
            raise BacktestInputError(f"{where}.tiers[{i}].imr: a backtest's initial margin is notional / leverage; "
                                     "leave imr out", field=f"{where}.tiers[{i}].imr")
    profile = get_venue(venue)
    listing: dict[str, Any] = {"venue": venue, "symbol": symbol, **{k: fields[k] for k in FEE_FIELDS if k in fields},
                               **{k: rest[k] for k in _INSTRUMENT_FIELDS if k in rest}}
    given = [n for n in _TIER_SOURCES if getattr(spec, n) not in (None, [])]
    if not given:
        return listing  # the venue's built-in table (market_from_listing refuses an unknown symbol)
    try:
        refuse_unused_instrument_inputs(symbol, spec)
        if given == ["tier_table"]:
            listing["tier_table"] = spec.tier_table
            return listing
        table = instrument_tiers(profile, symbol, spec)
    except MarginCallError as exc:
        raise BacktestInputError(str(exc), field=exc.field or where) from None
    one_tier = len(table.tiers) == 1 and table.tiers[0].cap is None  # mode, basis and caps do not matter
    for name, got, venue_has in () if one_tier else (("tier_mode", table.mode, profile.tier_mode),
                                 ("tier_basis", table.basis, profile.tier_basis),
                                 ("cap_inclusive", table.cap_inclusive, profile.cap_inclusive)):
        if got != venue_has:
            raise BacktestInputError(
                f"{where}: the tiers from {given[0]} have {name} {getattr(got, 'value', got)}, but {profile.name} "
                f"lists its markets with {getattr(venue_has, 'value', venue_has)}; choose the venue whose tables "
                "these are (--venue)", field=f"{where}.{name}")
    listing["tiers"] = [{"floor": _s(t.floor), "cap": None if t.cap is None else _s(t.cap), "mmr": _s(t.mmr),
                         "max_leverage": _s(t.max_leverage), "maintenance_amount": _s(t.maintenance_amount)}
                        for t in table.tiers]
    return listing
