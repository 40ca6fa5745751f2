"""margincall: exact margin and liquidation math, ledger and risk engine for crypto futures."""

__version__ = "0.1.0"
