"""Refuse inputs a scenario gives but its evaluation would not use.

A number the chosen formula ignores gives a result that looks right and is not what the user asked for
(a taker fee given to a formula without a fee term, extra margin on a cross position, a maintenance
amount beside a full tier table). Each such input is refused with an error naming the field and, for a
fee, the formula forms that do use it.
"""

from __future__ import annotations

from collections.abc import Sequence

from margincall.calculator.scenario import InstrumentIn, Scenario
from margincall.model.enums import ContractKind, MarginMode
from margincall.model.errors import MarginCallError
from margincall.model.holding import Holding
from margincall.venues.profiles import VENUES, FormulaForm, VenueProfile


class UnusedInput(MarginCallError):
    code = "unused_input"


def forms_with_fee_term(kinds_modes: set[tuple[ContractKind, MarginMode]]) -> list[str]:
    """``venue formula`` of every built-in form whose formula has a taker-fee term for one of
    ``kinds_modes``, the default form marked."""
    out = []
    for profile in VENUES.values():
        for form in profile.forms:
            if any(form.rule.has_fee_term(k, m) for k, m in kinds_modes if k is profile.kind):
                default = " (default)" if form is profile.default_form and len(profile.forms) > 1 else ""
                out.append(f"{profile.name} {form.name}{default}")
    return out


def _refuse_fee(profile: VenueProfile, form: FormulaForm, holdings: Sequence[Holding]) -> None:
    kinds_modes = {(h.instrument.kind, h.position.margin_mode) for h in holdings}
    if any(form.rule.has_fee_term(k, m) for k, m in kinds_modes):
        return
    what = " and ".join(sorted(f"{k.value} {m.value}" for k, m in kinds_modes))
    users = forms_with_fee_term(kinds_modes)
    here = [u.split(" ", 1)[1] for u in users if u.split(" ", 1)[0] == profile.name]
    hint = (
        f'{profile.name} formula {" or ".join(here)} uses it: choose it with "formula"'
        if here
        else f'formulas with a fee term for {what} positions: {", ".join(users) or "none"}: choose one with "venue"'
    )
    raise UnusedInput(
        f"taker_fee: {profile.name} formula {form.name} has no taker-fee term for {what} positions, so the fee"
        f" would be ignored; {hint}, or leave taker_fee out",
        field="taker_fee",
    )


def refuse_unused_instrument_inputs(symbol: str, spec: InstrumentIn) -> None:
    """Raise :class:`UnusedInput` for an instrument field its other fields make unused."""
    where = f"instruments.{symbol}"
    sources = [
        name
        for name in (
            "tiers",
            "tier_table",
            "ccxt_tiers",
            "binance_brackets",
            "bybit_risk_limits",
            "okx_position_tiers",
        )
        if getattr(spec, name) not in (None, [])
    ]
    if spec.maintenance_amount is not None and spec.mmr is None:
        raise UnusedInput(
            f'{where}.maintenance_amount: used only with "mmr" (a one-tier table); tiers given as'
            f" {' or '.join(sources) or 'max_leverage'} carry their own maintenance amounts",
            field=f"{where}.maintenance_amount",
        )
    if spec.max_leverage is not None and sources:
        raise UnusedInput(
            f'{where}.max_leverage: the tiers given as {sources[0]} carry their own max leverage; "max_leverage"'
            ' is used only alone (Hyperliquid: MMR = 1 / (2 × max leverage)) or with "mmr"',
            field=f"{where}.max_leverage",
        )
    shaped = {"tiers", "ccxt_tiers"}.intersection(sources)
    for name in ("tier_mode", "tier_basis", "cap_inclusive"):
        if getattr(spec, name) is not None and not shaped:
            raise UnusedInput(
                f'{where}.{name}: applies only to tiers given as "tiers" or "ccxt_tiers"'
                f" ({' or '.join(sources) or 'a one-tier table or the built-in table'} has its own)",
                field=f"{where}.{name}",
            )


def refuse_unused_inputs(
    profile: VenueProfile, form: FormulaForm, scenario: Scenario, holdings: Sequence[Holding]
) -> None:
    """Raise :class:`UnusedInput` for the first input of ``scenario`` that its evaluation would ignore."""
    if scenario.taker_fee is not None:
        _refuse_fee(profile, form, holdings)
    for i, p in enumerate(scenario.positions):
        if p.margin_mode == MarginMode.CROSS.value:
            for name in ("extra_margin", "isolated_margin"):
                if getattr(p, name) is not None:
                    raise UnusedInput(
                        f"positions[{i}].{name}: a cross position has no margin of its own (its margin is the"
                        ' account\'s wallet_balance); give margin_mode "isolated" or leave it out',
                        field=f"positions[{i}].{name}",
                    )
    held = {p.symbol for p in scenario.positions}
    for symbol, spec in scenario.instruments.items():
        if symbol not in held:
            raise UnusedInput(
                f"instruments.{symbol}: no position has this symbol (positions: {', '.join(sorted(held))})",
                field=f"instruments.{symbol}",
            )
        refuse_unused_instrument_inputs(symbol, spec)


__all__ = ["UnusedInput", "forms_with_fee_term", "refuse_unused_inputs", "refuse_unused_instrument_inputs"]
