"""The backtest's HTML report in a real browser: Playwright drives Debian's Chromium (tests/support/browser.py) over
the page ``margincall backtest --html`` writes on the shipped XRP/USDT fixture (tests/fixtures/backtest/): the three
trades of trades.csv, all liquidated (long10, long3 and short20), and one more that exits: long2, a 2x isolated long
from 18 Nov 2021 closed on 25 Nov, whose liquidation price E·(1 − 1/2)/0.99 ≈ 0.505·E (bracket 1: mmr 1 %) the
mark never nears. Each chart element is present and visible; a screenshot goes to ``artifacts/``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.browser import ARTIFACTS, chromium
from support.paths import FIXTURES

FIX = FIXTURES / "backtest"


def test_backtest_report_draws_every_chart_element(tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    trades = tmp_path / "trades.csv"
    trades.write_text((FIX / "trades.csv").read_text().rstrip("\n")
                      + "\nlong2,XRPUSDT,long,2021-11-18T00:00:00Z,1000,2,isolated,2021-11-25T00:00:00Z\n")
    run = subprocess.run(
        [sys.executable, "-m", "margincall.cli.main", "backtest", "--venue", "binance-usdm",
         "--trades", str(trades), "--candles", str(FIX / "XRP_USDT_USDT-8h-mark.feather"),
         "--mark", str(FIX / "XRP_USDT_USDT-8h-mark.feather"),
         "--funding", str(FIX / "XRP_USDT_USDT-8h-funding_rate.feather"),
         "--instruments", str(FIX / "xrpusdt_instruments.json"), "--html", str(report)],
        capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    errors: list[str] = []
    requests: list[str] = []
    with chromium({"width": 1200, "height": 900}) as ctx:
        page = ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(report.as_uri())
        price = page.locator("svg#price-XRPUSDT")
        assert price.is_visible()
        assert price.locator("polyline.price").is_visible()  # the close path
        entries = price.locator("circle.entry")
        assert sorted(entries.nth(i).get_attribute("data-trade") or "" for i in range(entries.count())) == [
            "long10", "long2", "long3", "short20"]
        for i in range(entries.count()):
            assert entries.nth(i).is_visible()
        exits = price.locator("rect.exit")
        assert [exits.nth(i).get_attribute("data-trade") for i in range(exits.count())] == ["long2"]
        assert exits.first.is_visible()
        liqs = price.locator("path.liquidation")
        liquidated = {liqs.nth(i).get_attribute("data-trade") for i in range(liqs.count())}
        assert liquidated == {"long10", "long3", "short20"}
        for i in range(liqs.count()):
            assert liqs.nth(i).is_visible()
        lines = price.locator("polyline.liq")
        drawn = {lines.nth(i).locator("title").text_content(): lines.nth(i) for i in range(lines.count())}
        assert set(drawn) == {f"{t} liquidation price" for t in ("long10", "long2", "long3", "short20")}
        for t in ("long10", "long2", "long3", "short20"):
            assert drawn[f"{t} liquidation price"].is_visible(), t
        # short20 opens and is liquidated inside the 4 Dec 08:00 candle: its line has no length in time, so it is
        # drawn as a short solid bracketed tick |—| (8 × 8 px) centred on its liquidation mark
        tick = drawn["short20 liquidation price"]
        assert "liq-tick" in (tick.get_attribute("class") or "")
        box = tick.bounding_box()
        assert box is not None and box["width"] >= 7 and box["height"] >= 7, box
        mark = price.locator('path.liquidation[data-trade="short20"]').bounding_box()
        assert mark is not None and abs((box["x"] + box["width"] / 2) - (mark["x"] + mark["width"] / 2)) < 6
        assert tick.evaluate("e => getComputedStyle(e).strokeDasharray") == "none"
        for t in ("long10", "long2", "long3"):  # the others span time: plain dashed lines
            assert "liq-tick" not in (drawn[f"{t} liquidation price"].get_attribute("class") or ""), t
        equity = page.locator("svg#equity polyline.equity")
        assert equity.is_visible()
        box = equity.bounding_box()
        assert box is not None and box["width"] > 500  # spans the chart, not a dot
        assert page.locator("#trades tbody tr").count() == 4
        page.screenshot(path=str(ARTIFACTS / "backtest-report.png"), full_page=True)
    assert errors == []
    assert all(u.startswith("file:") for u in requests), requests  # self-contained: nothing fetched
