"""A deterministic synthetic market for demos and tests: symbols, thousands of accounts, and a price path with
drift, a crash and a rebound that produces margin calls, partial liquidations, insurance-fund payments and ADL."""

from margincall.sim.market import DEFAULT_SYMBOLS, Event, SimConfig, SymbolSpec, SyntheticMarket, Trader
from margincall.sim.prices import PathShape
from margincall.sim.run import Tally, install, mark_commands, run_path

__all__ = ["DEFAULT_SYMBOLS", "Event", "PathShape", "SimConfig", "SymbolSpec", "SyntheticMarket", "Tally", "Trader",
           "install", "mark_commands", "run_path"]
