/* The liquidation map chart: the JSON of GET /v1/liquidation-map (and of margincall.calculator's map_to_json)
 * drawn as inline SVG, one block per symbol. Used by the dashboard and inlined whole into the self-contained
 * HTML file of `margincall liquidation-map --html` (nothing loaded from the network). Numbers arrive as decimal
 * strings; they become floats only to be drawn. Every text goes in through textContent: nothing is parsed as
 * HTML. Exposes window.LiqMap.draw(container, json). */
(function () {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";
  const W = 720, H = 190, H2 = 110, PAD = 46;

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function html(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function short(x) {
    const a = Math.abs(x);
    if (a >= 1e9) return (x / 1e9).toFixed(2) + "B";
    if (a >= 1e6) return (x / 1e6).toFixed(2) + "M";
    if (a >= 1e3) return (x / 1e3).toFixed(1) + "k";
    if (a >= 1 || a === 0) return x.toFixed(2).replace(/\.00$/, "");
    return x.toPrecision(3);
  }
  function movePct(m) { const p = Number(m) * 100; return (p > 0 ? "+" : "") + p.toFixed(1) + " %"; }

  // The first move, walking away from 0 on each side, whose deficit the fund no longer covers (null: none).
  function exhausted(s, moves) {
    const mid = (moves.length - 1) / 2;
    const out = { down: null, up: null };
    for (let i = mid; i >= 0; i--) if (Number(s.shortfall[i]) > 0) { out.down = moves[i]; break; }
    for (let i = mid; i < moves.length; i++) if (Number(s.shortfall[i]) > 0) { out.up = moves[i]; break; }
    return out;
  }

  function block(s, moves) {
    const n = moves.length, mid = (n - 1) / 2, asset = s.settle_asset;
    const notional = moves.map((_, i) => i < mid ? Number(s.long_notional[i]) : i > mid ? Number(s.short_notional[i])
      : Number(s.long_notional[i]) + Number(s.short_notional[i]));
    const count = moves.map((_, i) => i < mid ? s.long_count[i] : i > mid ? s.short_count[i]
      : s.long_count[i] + s.short_count[i]);
    const deficit = s.deficit.map(Number), fund = Number(s.insurance_fund);
    const box = html("div", "lm-symbol");
    box.setAttribute("data-symbol", s.symbol);
    const ex = exhausted(s, moves);
    box.append(html("h3", null, s.symbol + " · mark " + short(Number(s.mark)) + " · " + s.positions +
      (s.positions === 1 ? " position" : " positions") + " · fund " + short(fund) + " " + asset));
    const note = html("p", "lm-note", "fund exhausted at " + (ex.down === null ? "—" : movePct(ex.down)) +
      " / " + (ex.up === null ? "—" : movePct(ex.up)) + " (a shortfall goes to ADL)");
    note.setAttribute("data-down", ex.down === null ? "" : ex.down);
    note.setAttribute("data-up", ex.up === null ? "" : ex.up);
    box.append(note);

    const bw = (W - PAD - 8) / n, x = (i) => PAD + i * bw;
    const top = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "lm-chart", role: "img",
      "aria-label": s.symbol + " cumulative notional liquidated by move" });
    const nmax = Math.max(...notional, 1e-12);
    top.append(svg("text", { x: 2, y: 12, class: "lm-axis" }, short(nmax)));
    top.append(svg("text", { x: 2, y: H - 22, class: "lm-axis" }, "0"));
    moves.forEach((m, i) => {
      const h = (H - 40) * notional[i] / nmax;
      const r = svg("rect", { x: x(i) + 1, y: H - 24 - h, width: Math.max(bw - 2, 1), height: h,
        class: "lm-bar " + (i < mid ? "long" : i > mid ? "short" : "now"), "data-move": m, "data-count": count[i],
        "data-notional": i < mid ? s.long_notional[i] : i > mid ? s.short_notional[i] : notional[i] });
      r.append(svg("title", {}, movePct(m) + " → " + short(Number(s.prices[i])) + ": " + count[i] + " " +
        (i < mid ? "longs" : i > mid ? "shorts" : "positions") + ", " + short(notional[i]) + " " + asset));
      top.append(r);
    });
    [[0, "start"], [mid, "middle"], [n - 1, "end"]].forEach(([i, anchor]) => top.append(svg("text", {
      x: anchor === "start" ? x(i) : anchor === "end" ? x(i) + bw : x(i) + bw / 2, y: H - 8, class: "lm-axis",
      "text-anchor": anchor }, movePct(moves[i]))));
    box.append(html("div", "lm-caption", "cumulative notional liquidated (" + asset + "): longs as the mark falls, " +
      "shorts as it rises"));
    box.append(top);

    const bottom = svg("svg", { viewBox: `0 0 ${W} ${H2}`, class: "lm-chart lm-deficit", role: "img",
      "aria-label": s.symbol + " deficit against the insurance fund" });
    const dmax = Math.max(...deficit, fund, 1e-12), y = (v) => H2 - 16 - (H2 - 26) * v / dmax;
    moves.forEach((m, i) => {
      const cov = Number(s.fund_covers[i]), gap = Number(s.shortfall[i]);
      const t = movePct(m) + ": deficit " + short(deficit[i]) + ", fund pays " + short(cov) + ", shortfall " + short(gap);
      const a = svg("rect", { x: x(i) + 1, y: y(cov), width: Math.max(bw - 2, 1), height: H2 - 16 - y(cov),
        class: "lm-covered" });
      a.append(svg("title", {}, t));
      const b = svg("rect", { x: x(i) + 1, y: y(cov + gap), width: Math.max(bw - 2, 1), height: y(cov) - y(cov + gap),
        class: "lm-shortfall", "data-move": m, "data-shortfall": s.shortfall[i] });
      b.append(svg("title", {}, t));
      bottom.append(a, b);
    });
    bottom.append(svg("line", { x1: PAD, x2: W - 8, y1: y(fund), y2: y(fund), class: "lm-fund" }));
    bottom.append(svg("text", { x: 2, y: Math.max(y(fund), 10), class: "lm-axis" }, "fund"));
    box.append(html("div", "lm-caption", "deficit past the bankruptcy prices: paid by the fund (amber), " +
      "left to ADL (red)"));
    box.append(bottom);
    return box;
  }

  function draw(container, data) {
    container.replaceChildren();
    if (!data || !data.symbols || data.symbols.length === 0) {
      container.append(html("p", "lm-note", "no open positions"));
      return;
    }
    for (const s of data.symbols) container.append(block(s, data.moves));
  }

  window.LiqMap = { draw };
})();
