"""The calculator in one call: a scenario in (JSON text or parsed), the result out in margincall's or ccxt's shape."""

from __future__ import annotations

from typing import Any

from margincall.calculator.ccxt_shape import to_ccxt_positions
from margincall.calculator.evaluate import evaluate, result_to_json
from margincall.calculator.inputs import UnusedInput
from margincall.calculator.scenario import SECTIONS, parse_scenario


def calculate(data: str | bytes | dict[str, object], *, output: str = "margincall") -> Any:
    """Parse, evaluate and serialise a scenario (the CLI's and the API's entry point).

    ``output="ccxt"`` gives a list of ccxt unified ``Position`` dicts instead of the result JSON (a scenario with
    question sections, which that structure cannot carry, is refused).
    """
    scenario = parse_scenario(data)
    if output == "ccxt":
        asked = [name for name in SECTIONS if getattr(scenario, name) is not None]
        if asked:
            raise UnusedInput(f"{asked[0]}: ccxt's Position structure has no place for it; leave out --ccxt",
                              field=asked[0])  # fmt: skip
    result = evaluate(scenario)
    if output == "ccxt":
        return to_ccxt_positions(scenario, result)
    return result_to_json(result)


__all__ = ["calculate"]
