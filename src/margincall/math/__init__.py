"""Pure formulas: each rule of margin and liquidation in one home, exact (Decimal) and citing docs/venues.md;
``math.vector`` and the batch kernels are their float64 screening twins, pinned to them by differential tests."""
