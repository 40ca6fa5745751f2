"""The self-contained HTML liquidation map in Chromium, opened from a file with the network cut off: it draws
one block per symbol, a bar per move, the values the JSON holds, and loads nothing."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path

from margincall.calculator.liquidation_map import build_map, map_to_json, scenario_rows
from margincall.web.liquidation_map import render_html
from support.browser import ARTIFACTS, chromium

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "liquidation-map.json"


def test_html_chart_draws_the_map_offline(tmp_path):
    rows, instruments, funds = scenario_rows(json.loads(EXAMPLE.read_text()))
    data = map_to_json(build_map([rows], instruments, fund=funds, span=D("0.3"), steps=3))
    data["symbols"][0]["symbol"] = "BTC</script><b>x</b>"  # a hostile name stays text
    page = tmp_path / "map.html"
    page.write_text(render_html(data))
    requests: list[str] = []
    with chromium() as ctx:
        p = ctx.new_page()
        p.on("request", lambda r: requests.append(r.url))
        errors: list[str] = []
        p.on("pageerror", lambda e: errors.append(str(e)))
        p.goto(page.as_uri())
        p.wait_for_selector(".lm-symbol")
        assert errors == []
        blocks = p.locator(".lm-symbol")
        assert blocks.count() == 2
        first = blocks.nth(0)
        assert first.get_attribute("data-symbol") == "BTC</script><b>x</b>"
        assert p.locator("b").count() == 0
        bars = first.locator("rect.lm-bar")
        assert bars.count() == 7
        # −30 %: 2 longs, 376.50 USDT; +30 %: the short, 124.50 (tests/calculator's hand values)
        assert bars.nth(0).get_attribute("data-count") == "2"
        assert bars.nth(0).get_attribute("data-notional") == "376.50"
        assert bars.nth(6).get_attribute("data-notional") == "124.50"
        # the fund of 5 is exhausted by the first move down (−10 %: deficit 15) and up at +30 % (deficit 5 = fund:
        # covered, no shortfall) — so up: none
        note = first.locator(".lm-note")
        assert note.get_attribute("data-down") == "-0.1" and note.get_attribute("data-up") == ""
        p.screenshot(path=str(ARTIFACTS / "liquidation_map_html.png"), full_page=True)
    assert [u for u in requests if not u.startswith("file:")] == []
