"""The risk engine: a float screening book, fused numba screens and a per-tick band index, confirmed in Decimal."""
