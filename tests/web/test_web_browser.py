"""The dashboard in a real browser: Playwright drives Debian's Chromium (never ``playwright install``) against
``margincall demo``: a liquidation row appears in the live feed, that account's page shows its position, and the
liquidation line's value is exactly the API's (``GET /v1/accounts/{id}/positions``). Screenshots go to
``artifacts/`` (gitignored). Under ``CI=true`` a missing Chromium or Playwright is a failure, not a skip."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from typing import Any

from margincall.cli.demo import free_port
from support.browser import ARTIFACTS, CHROMIUM, FLAGS
from support.browser import missing as _missing


class Demo:
    """``margincall demo`` in a subprocess; its stdout is collected line by line."""

    def __init__(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if k != "CI"}
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "margincall.cli.main", "demo", "--port", str(self.port), *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for line in list(self.lines):
                m = re.search(pattern, line)
                if m:
                    return m
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.1)
        raise AssertionError(f"demo printed no line matching {pattern!r}:\n" + "\n".join(self.lines))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            return self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self._reader.join(5)


def _positions(base: str, key: str, account: str) -> list[dict[str, Any]]:
    import httpx

    r = httpx.get(f"{base}/v1/accounts/{account}/positions", headers={"Authorization": f"Bearer {key}"},
                  timeout=10)
    assert r.status_code == 200, r.text
    return list(r.json()["positions"])


def test_dashboard_shows_the_liquidation_line_the_api_computes():
    if not CHROMIUM.exists():
        _missing(str(CHROMIUM))
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package")
    ARTIFACTS.mkdir(exist_ok=True)
    demo = Demo("--duration", "60", "--accounts", "1000", "--seed", "7")
    errors: list[str] = []
    try:
        m = demo.wait_for(r"dashboard: (http://\S+/#key=(\S+))", timeout=60)
        url, key = m.group(1), m.group(2)
        assert demo.wait_for(r"admin API key: (\S+)", 5).group(1) == key
        base = f"http://127.0.0.1:{demo.port}"
        with sync_playwright() as pw, tempfile.TemporaryDirectory(prefix="margincall-chromium-") as profile:
            ctx = pw.chromium.launch_persistent_context(profile, executable_path=str(CHROMIUM), args=FLAGS,
                                                        headless=True, viewport={"width": 1400, "height": 1000})
            try:
                page = ctx.new_page()
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(url)
                # the key moved from the URL into sessionStorage
                page.wait_for_function("() => !location.hash.includes('key=')")
                assert page.evaluate("() => sessionStorage.getItem('margincall.key')") == key
                page.wait_for_selector("#conn.on", timeout=20_000)  # the WebSocket stream is live
                page.wait_for_selector('#feed tr.feed-row[data-type="partial_liquidation"]', timeout=60_000)
                page.wait_for_timeout(1500)  # let the fund chart and the risk table redraw
                page.screenshot(path=str(ARTIFACTS / "dashboard-overview.png"), full_page=True)
                assert page.locator("#marks .mark").count() == 4
                assert page.locator("#risk-table tbody tr").count() > 0
                assert page.locator("#fund-chart canvas").count() >= 1

                # a liquidated account that still holds a position (a whale restored by partial steps)
                account = position = None
                end = time.monotonic() + 30
                while account is None and time.monotonic() < end:
                    rows = page.eval_on_selector_all(
                        "#feed tr.feed-row", "rs => rs.map(r => [r.dataset.type, r.dataset.account])")
                    ordered = [a for t, a in rows if t == "partial_liquidation"] + [
                        a for t, a in rows if t == "liquidation"]
                    for acct in dict.fromkeys(ordered):
                        positions = _positions(base, key, acct)
                        if positions and positions[0]["liquidation_price"] is not None:
                            account, position = acct, positions[0]
                            break
                    else:
                        page.wait_for_timeout(1000)
                assert account is not None and position is not None, "no liquidated account kept a position"

                page.locator(f'#feed tr.feed-row[data-account="{account}"] a.acct').first.click()
                assert page.url.endswith(f"#/account/{account}")
                symbol = position["symbol"]
                line = page.locator(f'#price-lines [data-line="liquidation"][data-symbol="{symbol}"]')
                line.wait_for(timeout=15_000)
                # the page polls every 2 s; the line must show exactly the API's value
                end = time.monotonic() + 15
                while True:
                    shown = line.get_attribute("data-value")
                    api = _positions(base, key, account)[0]["liquidation_price"]
                    if shown is not None and api is not None and Decimal(shown) == Decimal(api):
                        break
                    assert time.monotonic() < end, f"liquidation line {shown} != API {api}"
                    page.wait_for_timeout(500)
                # the visible number is the same value rounded for reading
                text = line.inner_text().replace("— liquidation", "").replace(",", "").strip()
                assert abs(Decimal(text) - Decimal(api)) <= Decimal("0.01"), (text, api)
                # the chart carries the entry, liquidation and bankruptcy lines
                legend = page.locator("#price-chart .u-legend")
                for label in ("mark", "entry", "liquidation", "bankruptcy"):
                    assert legend.get_by_text(label, exact=False).count() >= 1, label
                entry = page.get_attribute('#price-lines [data-line="entry"]', "data-value")
                assert entry is not None and Decimal(entry) == Decimal(position["entry_price"])
                page.wait_for_timeout(1000)
                page.screenshot(path=str(ARTIFACTS / "dashboard-account.png"), full_page=True)
            finally:
                ctx.close()
        assert errors == [], errors
    finally:
        rc = demo.stop()
    assert rc == 0, "\n".join(demo.lines)
    summary = demo.wait_for(r"demo summary: (\d+) events stored · (\d+) margin calls · (\d+) liquidations", 5)
    assert all(int(g) > 0 for g in summary.groups())
