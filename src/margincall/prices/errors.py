"""Why a price tick was refused. Every error carries a stable ``code`` and names the field."""

from __future__ import annotations

from margincall.model.errors import MarginCallError, UnknownSymbol


class PriceRejected(MarginCallError):
    """Base class of every refused price tick; the tick changed no state."""

    code = "price_rejected"


class InvalidPrice(PriceRejected):
    """NaN, infinity, zero, negative or oversized price (or a computed mark that is not positive)."""

    code = "invalid_price"


class InvalidTimestamp(PriceRejected):
    """A timestamp that is not a non-negative integer number of milliseconds."""

    code = "invalid_timestamp"


class OutOfOrder(PriceRejected):
    """A tick older than the last one accepted from the same source (index) or for the same symbol (mark)."""

    code = "out_of_order"


class DuplicateTick(PriceRejected):
    """A tick id already accepted for the symbol."""

    code = "duplicate"


class StalePrice(PriceRejected):
    """A tick older than ``now − max_age_ms``."""

    code = "stale"


class CircuitBreaker(PriceRejected):
    """A single move wider than the breaker band, with the feed set to reject such moves."""

    code = "circuit_breaker"


class UnknownSource(PriceRejected):
    """A tick from a source the index was not configured with."""

    code = "unknown_source"


class MissingInput(PriceRejected):
    """A mark rule was called without one of the inputs its formula needs."""

    code = "missing_input"


class NoIndex(PriceRejected):
    """Fewer usable (fresh, non-outlier) sources than ``min_sources``: there is no index at this time."""

    code = "no_index"


class UnknownPriceSymbol(PriceRejected, UnknownSymbol):
    """A tick for a symbol the feed or index was not configured with."""

    code = "unknown_symbol"
