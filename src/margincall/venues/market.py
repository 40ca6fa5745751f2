"""A listed market — instrument, tier table and fee rates — built from a JSON-able listing.

A listing names a venue and a symbol. Built-in symbols take the venue profile's instrument and newest tier
table (or the one dated ``tier_table``); any field may be given to override or to define a new symbol:
``kind``, ``contract_size``, ``tick_size``, ``lot_size``, ``settle_asset``, ``tiers`` (``floor``, ``cap``,
``mmr``, ``max_leverage``, optional ``maintenance_amount``), ``maker_fee``, ``taker_fee``,
``liquidation_fee``. Fee rates default to the venue profile's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from margincall.model.enums import ContractKind
from margincall.model.errors import MarginCallError, UnknownSymbol
from margincall.model.instrument import Instrument
from margincall.model.numbers import non_negative
from margincall.model.tiers import TierSpec, TierTable
from margincall.venues.profiles import get_venue


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """A listed market: the instrument, its tier table and its fee rates."""

    venue: str
    instrument: Instrument
    tiers: TierTable
    maker_fee: Decimal
    taker_fee: Decimal
    liquidation_fee: Decimal
    listing: Mapping[str, Any] = field(compare=False, hash=False, default_factory=dict)


_INSTRUMENT_FIELDS = ("kind", "contract_size", "tick_size", "lot_size", "settle_asset")


def market_from_listing(listing: Mapping[str, Any]) -> MarketSpec:
    """Build and validate a :class:`MarketSpec`; raises :class:`MarginCallError` naming the bad field."""
    venue_name = listing.get("venue", "generic")
    if not isinstance(venue_name, str):
        raise MarginCallError("venue: expected a string", field="venue")
    venue = get_venue(venue_name)
    symbol = listing.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        raise MarginCallError("symbol: expected a non-empty string", field="symbol")
    builtin = venue.markets.get(symbol)
    overrides = {k: listing[k] for k in _INSTRUMENT_FIELDS if listing.get(k) is not None}
    if builtin is not None:
        base = builtin.instrument
        inst_args: dict[str, Any] = {
            "kind": base.kind, "contract_size": base.contract_size, "tick_size": base.tick_size,
            "lot_size": base.lot_size, "settle_asset": base.settle_asset,
        }
    else:
        inst_args = {"kind": venue.kind, "settle_asset": venue.settle_asset}
    inst_args.update(overrides)
    try:
        inst_args["kind"] = ContractKind(inst_args["kind"])
    except ValueError:
        raise MarginCallError(f"kind: expected linear or inverse, got {inst_args['kind']!r}", field="kind") from None
    instrument = Instrument.of(symbol, **inst_args)
    tiers_in = listing.get("tiers")
    if tiers_in is not None:
        if not isinstance(tiers_in, list) or not all(isinstance(t, Mapping) for t in tiers_in):
            raise MarginCallError("tiers: expected a list of objects", field="tiers")
        try:
            specs = [TierSpec(t["floor"], t.get("cap"), t["mmr"], t["max_leverage"], t.get("maintenance_amount"))
                     for t in tiers_in]
        except KeyError as e:
            raise MarginCallError(f"tiers: every tier needs {e.args[0]}", field="tiers") from None
        one = specs[0] if len(specs) == 1 else None
        if (one is not None and one.cap is None and one.maintenance_amount is not None
                and non_negative(one.floor, "tiers[0].floor") == 0
                and non_negative(one.maintenance_amount, "tiers[0].maintenance_amount") != 0):
            # one open-ended tier from 0 has no continuity to check: its amount is taken as given, as the
            # calculator takes "mmr" + "maintenance_amount" (TierTable.single)
            tiers = TierTable.single(one.mmr, one.maintenance_amount, one.max_leverage)
        else:
            tiers = TierTable.build(specs, mode=venue.tier_mode, basis=venue.tier_basis,
                                    cap_inclusive=venue.cap_inclusive)
    elif builtin is not None:
        tiers = venue.tier_table(symbol, listing.get("tier_table"))
    else:
        raise UnknownSymbol(f"{symbol} is not built into {venue.name}: give its tiers", field="tiers")

    def rate(name: str, default: Decimal) -> Decimal:
        v = listing.get(name)
        return default if v is None else non_negative(v, name)

    return MarketSpec(
        venue=venue.name,
        instrument=instrument,
        tiers=tiers,
        maker_fee=rate("maker_fee", venue.maker_fee),
        taker_fee=rate("taker_fee", venue.taker_fee),
        liquidation_fee=rate("liquidation_fee", venue.liquidation_fee_rate),
        listing=dict(listing),
    )
