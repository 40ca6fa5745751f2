"""Where things are, for tests in any folder: the repository, its sources, the tests and their fixtures."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
SRC = ROOT / "src"
FIXTURES = TESTS / "fixtures"
SUPPORT = TESTS / "support"
