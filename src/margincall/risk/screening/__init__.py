"""Float screening of the book, confirmed exactly: the float book, its fused screens, the band index and the
screener the engine calls (docs/architecture.md, "Screening")."""
