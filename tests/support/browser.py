"""Debian's Chromium under Playwright, as the browser tests drive it (never ``playwright install``).

Under ``CI=true`` a missing Chromium or Playwright is a failure, not a skip. Screenshots go to ``artifacts/``
(gitignored)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


def missing(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true (.ci/run installs chromium with apt)")
    pytest.skip(f"{what} is not available")


def require_chromium() -> None:
    """Fail (CI) or skip unless Debian's Chromium and the playwright package are both here."""
    if not CHROMIUM.exists():
        missing(str(CHROMIUM))
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing("the playwright package")
    ARTIFACTS.mkdir(exist_ok=True)


@contextmanager
def chromium(viewport: dict[str, int] | None = None) -> Iterator[Any]:
    """A fresh persistent Chromium context (a throwaway profile) with the flags above."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw, tempfile.TemporaryDirectory(prefix="margincall-chromium-") as profile:
        ctx = pw.chromium.launch_persistent_context(profile, executable_path=str(CHROMIUM), args=FLAGS,
                                                    headless=True,
                                                    viewport=viewport or {"width": 1400, "height": 1000})
        try:
            yield ctx
        finally:
            ctx.close()
