"""The engine's compiled core: the ledger's state as integer fixed-point arrays and compiled (numba) passes over
it, each pinned to the Decimal reference (``margincall.ledger``, ``margincall.risk``) by differential tests
(``tests/core``). See docs/architecture.md "Core" for the layout and the number ranges."""
