"""A stress result as JSON data and as a self-contained HTML page (inline SVG and CSS; no script, no CDN)."""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from margincall.stress.advisor import Advice
from margincall.stress.run import StressResult

_W, _H, _PAD = 900, 340, 56


def _hours(result: StressResult) -> np.ndarray:
    out: np.ndarray = result.steps * (result.step.total_seconds() / 3600)
    return out


def to_json(result: StressResult, advice: Advice | None = None) -> dict[str, Any]:
    """Probabilities by horizon (hours), the fan's quantiles, each position's liquidation price (Decimal
    strings), and the advisor's rows when given."""
    probs = result.probabilities()
    out: dict[str, Any] = {
        "venue": result.venue, "symbol": result.symbol, "start": result.start, "model": result.model,
        "step_seconds": result.step.total_seconds(), "paths": result.paths, "seed": result.seed,
        "confirmed_exactly": result.confirmed, "overturned_by_exact_rule": result.overturned,
        "positions": [{"index": b.index, "side": b.side, "margin_mode": b.margin_mode,
                       "liquidation_price": str(b.liquidation_price)} for b in result.barriers],
        "horizons": [
            {"hours": float(h), "steps": int(s), "probability": float(p), "se": float(se),
             "positions": [float(probs[f"position_{b.index}"].iloc[k]) for b in result.barriers]}
            for k, (h, s, p, se) in enumerate(zip(_hours(result), result.steps, probs["account"], probs["account_se"],
                                                  strict=True))
        ],
        "fan": {f"q{round(q * 100):02d}": [float(v) for v in row]
                for q, row in zip((0.05, 0.25, 0.5, 0.75, 0.95), result.fan, strict=True)},
    }
    if advice is not None:
        out["advisor"] = {
            "p": advice.p, "horizon_hours": advice.horizon.total_seconds() / 3600, "model": advice.model,
            "venues": [{"venue": v.venue, "symbol": v.symbol, "safe_leverage": v.safe_leverage,
                        "probability": v.probability,
                        "liquidation_price": None if v.liquidation_price is None else str(v.liquidation_price),
                        "next_probability": v.next_probability, "note": v.note} for v in advice.venues],
        }
    return out


class _Axes:
    def __init__(self, x1: float, y0: float, y1: float) -> None:
        pad = (y1 - y0) * 0.05 or abs(y0) * 0.01 or 1.0
        self.x1, self.y0, self.y1 = x1 or 1.0, y0 - pad, y1 + pad

    def x(self, t: float) -> float:
        return _PAD + t / self.x1 * (_W - 2 * _PAD)

    def y(self, v: float) -> float:
        return _H - _PAD + (self.y0 - v) / (self.y1 - self.y0) * (_H - 2 * _PAD)

    def pts(self, ts: np.ndarray, vs: np.ndarray) -> str:
        return " ".join(f"{self.x(float(t)):.1f},{self.y(float(v)):.1f}" for t, v in zip(ts, vs, strict=True))

    def frame(self, label: str, unit: str) -> str:
        out = [f'<rect x="{_PAD}" y="{_PAD}" width="{_W - 2 * _PAD}" height="{_H - 2 * _PAD}" class="frame"/>',
               f'<text x="{_PAD}" y="{_PAD - 10}" class="label">{html.escape(label)}</text>']
        for k in range(5):
            v = self.y0 + (self.y1 - self.y0) * k / 4
            out.append(f'<text x="4" y="{self.y(v) + 4:.1f}" class="tick">{v:.6g}{unit}</text>')
            t = self.x1 * k / 4
            out.append(f'<text x="{self.x(t) - 12:.1f}" y="{_H - _PAD + 16}" class="tick">{t:.4g} h</text>')
        return "".join(out)


def _fan_svg(result: StressResult) -> str:
    t = np.concatenate([[0.0], _hours(result)])
    fan = np.concatenate([np.full((result.fan.shape[0], 1), result.start), result.fan], axis=1)
    levels = [float(b.liquidation_price) for b in result.barriers]
    ax = _Axes(float(t[-1]), min([float(fan.min()), *levels]), max([float(fan.max()), *levels]))
    svg = [ax.frame(f"{result.symbol} mark: 5–95 % and 25–75 % of paths, median; liquidation prices dashed", "")]
    for lo, hi, cls in ((0, 4, "band-outer"), (1, 3, "band-inner")):
        poly = ax.pts(np.concatenate([t, t[::-1]]), np.concatenate([fan[lo], fan[hi][::-1]]))
        svg.append(f'<polygon class="{cls}" points="{poly}"/>')
    svg.append(f'<polyline class="median" points="{ax.pts(t, fan[2])}"/>')
    for b in result.barriers:
        y = ax.y(float(b.liquidation_price))
        svg.append(f'<line class="liq" data-position="{b.index}" x1="{_PAD}" x2="{_W - _PAD}" y1="{y:.1f}" '
                   f'y2="{y:.1f}"><title>position {b.index} ({b.side}, {b.margin_mode}) liquidation '
                   f'{b.liquidation_price}</title></line>')
    return f'<svg id="fan" class="chart" viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}">{"".join(svg)}</svg>'


def _prob_svg(result: StressResult) -> str:
    t = np.concatenate([[0.0], _hours(result)])
    p = np.concatenate([[0.0], result.account_hits / result.paths]) * 100
    ax = _Axes(float(t[-1]), 0.0, max(float(p.max()), 1.0))
    return (f'<svg id="probability" class="chart" viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}">'
            f'{ax.frame("probability the account is liquidated by the horizon", " %")}'
            f'<polyline class="prob" points="{ax.pts(t, p)}"/></svg>')


def to_html(result: StressResult, advice: Advice | None = None) -> str:
    """The fan chart with the liquidation prices, the probability against horizon, and the advisor's table."""
    data = to_json(result, advice)
    rows = "".join(f"<tr><td>{h['hours']:.4g} h</td><td>{h['probability'] * 100:.2f} %</td>"
                   f"<td>{h['se'] * 100:.2f}</td></tr>" for h in data["horizons"])
    adv = ""
    if advice is not None:
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in (
                v.venue, v.symbol, "—" if v.safe_leverage is None else f"{v.safe_leverage}x",
                "" if v.probability is None else f"{v.probability * 100:.2f} %",
                "" if v.liquidation_price is None else str(v.liquidation_price), v.note)) + "</tr>"
            for v in advice.venues)
        adv = (f"<h2>Safe leverage (probability &lt; {advice.p * 100:g} % over {advice.horizon})</h2>"
               "<table id='advisor'><thead><tr><th>venue</th><th>symbol</th><th>safe leverage</th>"
               f"<th>probability</th><th>liquidation</th><th>note</th></tr></thead><tbody>{body}</tbody></table>")
    facts = {"venue": result.venue, "symbol": result.symbol, "start": f"{result.start:g}", "model": result.model,
             "paths": result.paths, "seed": result.seed, "step": str(result.step),
             "decided by the exact rule": f"{result.confirmed} path extremes ({result.overturned} overturned)"}
    dl = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in facts.items())
    charts = f"{_fan_svg(result)}{_prob_svg(result)}"
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>margincall stress</title>
<style>body{{font:14px system-ui,sans-serif;margin:24px;color:#222}}.chart{{display:block;margin:8px 0 24px}}
.frame{{fill:#fcfcfc;stroke:#ccc}}.tick{{font-size:10px;fill:#666}}.label{{font-size:12px;fill:#333}}
polyline{{fill:none}}.band-outer{{fill:#d0e2f5}}.band-inner{{fill:#9bbbe0}}.median{{stroke:#1f5fa8;stroke-width:1.5}}
.liq{{stroke:#c92a2a;stroke-dasharray:5 3;stroke-width:1.2}}.prob{{stroke:#c92a2a;stroke-width:1.5}}
dl{{display:grid;grid-template-columns:max-content auto;gap:2px 12px}}dd{{margin:0}}
table{{border-collapse:collapse;font-size:12px}}td,th{{border:1px solid #ddd;padding:2px 6px}}</style></head>
<body><h1>margincall stress</h1><dl id="summary">{dl}</dl>{charts}
<h2>Probability of liquidation by horizon</h2><table id="horizons"><thead><tr><th>horizon</th><th>probability</th>
<th>std. error (pp)</th></tr></thead><tbody>{rows}</tbody></table>{adv}</body></html>
"""


__all__ = ["to_html", "to_json"]
