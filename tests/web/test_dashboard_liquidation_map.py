"""The dashboard's liquidation map panel in Chromium against a real server (uvicorn) with the seed book of
tests/support/api.py, seen with a viewer key: the panel draws exactly what ``GET /v1/liquidation-map`` answers,
shows no account id, and follows a new mark.

Hand values (tests/api/test_liquidation_map_api.py): ``t`` long 1 BTC, LP 9,000 / 0.98 = 9,183.67…, BP 9,000;
``mm`` short 1 BTC, LP 107,843.1…, BP 110,000 (beyond +30 %); fund 500 USDT. At −30 % (mark 7,000) the deficit is
(9,000 − 7,000) × 1 = 2,000: the fund pays 500, 1,500 is left to ADL."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import httpx

from support.api import auth, ok, running, seed
from support.browser import ARTIFACTS, chromium


def test_dashboard_draws_the_api_map_and_follows_the_mark(tmp_path: Path) -> None:
    with running(str(tmp_path / "engine.db")) as (addr, app):
        base = f"http://{addr}"
        with httpx.Client(base_url=base, timeout=10) as c:
            keys = seed(c, app.state.admin_key)
            api = ok(c.get("/v1/liquidation-map?range=0.3&steps=30", headers=auth(keys["viewer"])))
        (btc,) = api["symbols"]
        with chromium() as ctx:
            page = ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base}/#key={keys['viewer']}")
            block = page.locator('#liqmap .lm-symbol[data-symbol="BTCUSDT"]')
            block.wait_for(timeout=20_000)
            bars = block.locator("rect.lm-bar")
            assert bars.count() == 61
            # −20 % (index 10, mark 8,000): the long, at its exact LP's notional, as the API says
            assert bars.nth(10).get_attribute("data-count") == "1"
            assert bars.nth(10).get_attribute("data-notional") == btc["long_notional"][10]
            assert abs(D(btc["long_notional"][10]) - D(9000) / D("0.98")) < D("0.01")
            # −8 % (index 22) is 9,200, above the LP: not liquidated; −9 % is 9,100, below: liquidated
            assert bars.nth(22).get_attribute("data-count") == "0"
            assert bars.nth(21).get_attribute("data-count") == "1"
            # −30 %: 2,000 deficit, 1,500 to ADL; the fund of 500 is exhausted once the deficit 9,000 − P passes
            # 500, i.e. below 8,500: first at −16 % (8,400: deficit 600)
            assert block.locator("rect.lm-shortfall").first.get_attribute("data-shortfall") == "1500"
            assert block.locator(".lm-note").get_attribute("data-down") == "-0.16"
            text = page.locator("#liqmap").inner_text()
            assert " t " not in f" {text} " and "mm" not in text
            seq = int(page.get_attribute("#liqmap", "data-seq") or 0)
            assert seq == api["seq"]
            page.screenshot(path=str(ARTIFACTS / "dashboard-liquidation-map.png"), full_page=True)
            with httpx.Client(base_url=base, timeout=10) as c:
                ok(c.post("/v1/marks", json={"marks": [{"symbol": "BTCUSDT", "price": "9500"}]},
                          headers=auth(app.state.admin_key)))
            page.wait_for_function(f"() => Number(document.getElementById('liqmap').dataset.seq) > {seq}",
                                   timeout=15_000)
            assert "mark 9.5k" in block.locator("h3").inner_text()
            assert errors == []
