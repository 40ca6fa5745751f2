"""A backtest's results: the per-trade table, a summary, JSON and CSV, and a self-contained HTML report.

The HTML report draws with inline SVG (no script, no CDN): price with entries, exits and liquidations, each
position's liquidation-price line over time, and the equity curve (cumulative PnL of the backtested trades).
"""

from __future__ import annotations

import html
import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from margincall.backtest.io import ms_of

if TYPE_CHECKING:
    from margincall.backtest.results import BacktestResult


def iso_ms(ms: int | None) -> str | None:
    if ms is None:
        return None
    text: str = pd.Timestamp(ms, unit="ms", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%f")
    return text[:-3] + "Z"


def _s(d: Decimal | None) -> str | None:
    return None if d is None else format(d.normalize(), "f")


def trade_rows(result: BacktestResult) -> list[dict[str, Any]]:
    """One row per trade, exact numbers as decimal text."""
    rows = []
    for r in result.results:
        t = r.trade
        rows.append({
            "id": t.id, "account": t.account, "symbol": t.symbol, "side": "long" if t.sign > 0 else "short",
            "margin_mode": t.margin_mode, "leverage": _s(t.leverage), "size": _s(r.size),
            "entry_time": iso_ms(t.open_ts), "entry_price": _s(r.entry_price),
            "exit_time": iso_ms(r.exit_time), "exit_price": _s(r.exit_price),
            "realized_pnl": _s(r.realized_pnl), "fees": _s(r.fees), "funding": _s(r.funding),
            "liquidated": r.liquidated, "partial_steps": r.partial_steps,
            "liquidation_time": iso_ms(r.liquidation_time), "liquidation_price": _s(r.liquidation_price),
            "liquidation_fee": _s(r.liquidation_fee), "surplus_to_fund": _s(r.surplus_to_fund),
            "net": _s(r.realized_pnl - r.fees + r.funding - r.surplus_to_fund),
        })
    return rows


def trades_table(result: BacktestResult) -> pd.DataFrame:
    return pd.DataFrame(trade_rows(result))


def summary(result: BacktestResult) -> dict[str, Any]:
    rs = result.results
    net = sum((r.realized_pnl - r.fees + r.funding - r.surplus_to_fund for r in rs), Decimal(0))
    return {
        "venue": result.venue,
        "mark_source": result.mark_source,
        "mark_path": ("mark candles" if result.mark_source == "mark" else "trade candles (no mark candles given)"),
        "trades": len(rs), "liquidated": sum(r.liquidated for r in rs),
        "realized_pnl": _s(sum((r.realized_pnl for r in rs), Decimal(0))),
        "fees": _s(sum((r.fees for r in rs), Decimal(0))), "funding": _s(sum((r.funding for r in rs), Decimal(0))),
        "net": _s(net), "engine_events": result.engine_events, "marks_fed": result.marks_fed,
    }


def to_json(result: BacktestResult) -> str:
    """One JSON object: ``summary``, ``trades`` (``id, liquidated, liquidation_time, liquidation_price,
    exit_price, realized_pnl, fees, funding`` and more) and the equity curve's last value."""
    eq = result.equity
    return json.dumps({"summary": summary(result), "trades": trade_rows(result),
                       "equity_end": float(eq["pnl"].iloc[-1]) if len(eq) else 0.0}, separators=(",", ":"))


# ------------------------------------------------------------------------------------------------ HTML
_W, _H, _PAD = 1000, 320, 48
_TICK_PX = 8  # the shortest liquidation-price line drawn, in pixels


def _thin(x: np.ndarray, n: int = 1500) -> np.ndarray:
    return np.arange(len(x)) if len(x) <= n else np.linspace(0, len(x) - 1, n).astype(int)


class _Plot:
    def __init__(self, t0: float, t1: float, y0: float, y1: float) -> None:
        pad = (y1 - y0) * 0.05 or abs(y0) * 0.01 or 1.0
        self.t0, self.t1, self.y0, self.y1 = t0, max(t1, t0 + 1), y0 - pad, y1 + pad

    def x(self, t: float) -> float:
        return _PAD + (t - self.t0) / (self.t1 - self.t0) * (_W - 2 * _PAD)

    def y(self, v: float) -> float:
        return _H - _PAD + (self.y0 - v) / (self.y1 - self.y0) * (_H - 2 * _PAD)

    def line(self, ts: np.ndarray, vs: np.ndarray, cls: str, title: str = "") -> str:
        pts = " ".join(f"{self.x(t):.1f},{self.y(v):.1f}" for t, v in zip(ts, vs, strict=True))
        tip = f"<title>{html.escape(title)}</title>" if title else ""
        return f'<polyline class="{cls}" points="{pts}">{tip}</polyline>'

    def axes(self, label: str) -> str:
        out = [f'<rect x="{_PAD}" y="{_PAD}" width="{_W - 2 * _PAD}" height="{_H - 2 * _PAD}" class="frame"/>']
        for k in range(5):
            v = self.y0 + (self.y1 - self.y0) * k / 4
            out.append(f'<text x="4" y="{self.y(v) + 4:.1f}" class="tick">{v:.6g}</text>')
        for k in range(5):
            t = self.t0 + (self.t1 - self.t0) * k / 4
            out.append(f'<text x="{self.x(t) - 40:.1f}" y="{_H - _PAD + 16}" class="tick">'
                       f'{pd.Timestamp(t, unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M")}</text>')
        out.append(f'<text x="{_PAD}" y="{_PAD - 8}" class="label">{html.escape(label)}</text>')
        return "".join(out)


def _ms(s: pd.Series) -> np.ndarray:
    return ms_of(s).astype(float)


def to_html(result: BacktestResult) -> str:
    """A self-contained page (inline SVG and CSS only)."""
    parts: list[str] = []
    for symbol, px in result.prices.items():
        t = _ms(px["date"])
        keep = _thin(t)
        lines = [(r, np.array([a for a, _ in r.liq_line], dtype=float), np.array([b for _, b in r.liq_line]))
                 for r in result.results if r.trade.symbol == symbol and r.liq_line]
        lo, hi = float(px["low"].min()), float(px["high"].max())
        plot = _Plot(float(t[0]), float(t[-1]), lo, hi)
        svg = [plot.axes(f"{symbol} — {summary(result)['mark_path']}"),
               plot.line(t[keep], px["low"].to_numpy()[keep], "low"), plot.line(t[keep], px["high"].to_numpy()[keep],
                                                                                 "high"),
               plot.line(t[keep], px["close"].to_numpy()[keep], "price", "close")]
        for r, lt, lv in lines:
            end = float(r.exit_time if r.exit_time is not None else t[-1])
            st = np.append(np.repeat(lt, 2)[1:], end)
            sv = np.repeat(lv, 2)
            inside = (sv >= plot.y0) & (sv <= plot.y1)
            if not inside.any():
                continue
            st, sv = st[inside], sv[inside]
            title = f"{r.trade.id} liquidation price"
            if plot.x(float(st.max())) - plot.x(float(st.min())) >= _TICK_PX:
                svg.append(plot.line(st, sv, "liq", title))
                continue
            # opened and liquidated inside one candle: a line of no length would not show; draw a short bracketed
            # tick |—| at its liquidation price
            x, y, h = plot.x(float(st.min())), plot.y(float(sv[-1])), _TICK_PX / 2
            pts = [(x - h, y - h), (x - h, y + h), (x - h, y), (x + h, y), (x + h, y - h), (x + h, y + h)]
            svg.append(f'<polyline class="liq liq-tick" points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in pts)}">'
                       f'<title>{html.escape(title)}</title></polyline>')
        for r in result.results:
            if r.trade.symbol != symbol or r.entry_price is None:
                continue
            tid = html.escape(r.trade.id)
            svg.append(f'<circle class="entry" data-trade="{tid}" cx="{plot.x(r.trade.open_ts):.1f}" '
                       f'cy="{plot.y(float(r.entry_price)):.1f}" r="4"><title>entry {tid} @ {r.entry_price}'
                       f'</title></circle>')
            if r.liquidated and r.liquidation_time is not None and r.liquidation_price is not None:
                x, y = plot.x(r.liquidation_time), plot.y(float(r.liquidation_price))
                svg.append(f'<path class="liquidation" data-trade="{tid}" d="M{x - 5:.1f},{y - 5:.1f}L{x + 5:.1f},'
                           f'{y + 5:.1f}M{x - 5:.1f},{y + 5:.1f}L{x + 5:.1f},{y - 5:.1f}"><title>liquidation {tid}'
                           f' @ {r.liquidation_price}</title></path>')
            elif r.exit_time is not None and r.exit_price is not None:
                svg.append(f'<rect class="exit" data-trade="{tid}" x="{plot.x(r.exit_time) - 4:.1f}" '
                           f'y="{plot.y(float(r.exit_price)) - 4:.1f}" width="8" height="8"><title>exit {tid} @ '
                           f'{r.exit_price}</title></rect>')
        parts.append(f'<h2>{html.escape(symbol)}</h2><svg id="price-{html.escape(symbol)}" class="chart" '
                     f'viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}">{"".join(svg)}</svg>')
    eq = result.equity
    if len(eq):
        t = _ms(eq["date"])
        keep = _thin(t)
        v = eq["pnl"].to_numpy()
        plot = _Plot(float(t[0]), float(t[-1]), float(v.min()), float(v.max()))
        parts.append(f'<h2>Equity curve</h2><svg id="equity" class="chart" viewBox="0 0 {_W} {_H}" width="{_W}" '
                     f'height="{_H}">{plot.axes("cumulative PnL of the backtested trades")}'
                     f'{plot.line(t[keep], v[keep], "equity", "equity")}</svg>')
    summ = summary(result)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in row.values())
                   + "</tr>" for row in trade_rows(result))
    head = "".join(f"<th>{html.escape(k)}</th>" for k in (trade_rows(result)[0] if result.results else {}))
    facts = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in summ.items())
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>margincall backtest</title>
<style>body{{font:14px system-ui,sans-serif;margin:24px;color:#222}}.chart{{display:block;margin:8px 0 24px}}
.frame{{fill:#fcfcfc;stroke:#ccc}}.tick{{font-size:10px;fill:#666}}.label{{font-size:12px;fill:#333}}
polyline{{fill:none}}.price{{stroke:#1f5fa8;stroke-width:1.2}}.low,.high{{stroke:#9bbbe0;stroke-width:.6}}
.liq{{stroke:#d9480f;stroke-dasharray:4 3;stroke-width:1}}.liq-tick{{stroke-dasharray:none;stroke-width:2.5}}
.equity{{stroke:#2b8a3e;stroke-width:1.4}}
.entry{{fill:#2b8a3e}}.exit{{fill:#495057}}.liquidation{{stroke:#c92a2a;stroke-width:2.5}}
dl{{display:grid;grid-template-columns:max-content auto;gap:2px 12px}}dd{{margin:0}}
table{{border-collapse:collapse;font-size:12px}}td,th{{border:1px solid #ddd;padding:2px 6px}}</style></head>
<body><h1>margincall backtest</h1><dl id="summary">{facts}</dl>{"".join(parts)}
<h2>Trades</h2><table id="trades"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></body></html>
"""
