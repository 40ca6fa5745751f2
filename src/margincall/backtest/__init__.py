"""Backtests that liquidate like the venue: trades replayed against price history through the service's engine.

``run_backtest(trades, candles, ...)`` (DataFrames in, :class:`BacktestResult` out); ``margincall backtest`` on
the command line. See :mod:`margincall.backtest.replay` for the rules of the replay.
"""

from margincall.backtest.replay import run_backtest
from margincall.backtest.results import BacktestResult

__all__ = ["BacktestResult", "run_backtest"]
