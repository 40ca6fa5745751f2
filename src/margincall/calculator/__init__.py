"""The liquidation calculator: a scenario (one account on one venue) in, margins and prices out."""

from margincall.calculator.api import calculate
from margincall.calculator.evaluate import CalcResult, evaluate, result_to_json
from margincall.calculator.scenario import Scenario, parse_scenario

__all__ = ["CalcResult", "Scenario", "calculate", "evaluate", "parse_scenario", "result_to_json"]
