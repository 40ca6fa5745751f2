/* margincall dashboard: plain JS over the HTTP API (/v1) and the WebSocket stream (/v1/stream).
 * Numbers arrive as decimal strings; they are kept as strings (data-value attributes) and only formatted for
 * reading. The API key comes from the fragment #key=... (never sent to the server) or the form, and is kept in
 * sessionStorage (never in the URL after
 * the first load). */
(function () {
  "use strict";

  const KEY_STORE = "margincall.key";
  const FEED_MAX = 500;
  const FEED_TYPES = ["margin_call", "partial_liquidation", "liquidation", "adl", "bankruptcy_settlement"];
  const $ = (id) => document.getElementById(id);

  const state = {
    key: null,
    ws: null,
    wsRetry: 0,
    marks: {},        // symbol -> {price, first}
    markHistory: {},  // symbol -> [[sec, price]]
    fund: { asset: "USDT", points: [] },
    fundChart: null,
    priceChart: null,
    seen: new Set(),  // event seqs already in the feed
    counts: { margin_call: 0, liquidation: 0, partial_liquidation: 0, adl: 0, insurance: 0 },
    route: { page: "overview", account: null },
    riskTimer: null,
    mapTimer: null,
    acctTimer: null,
    acctSymbol: null,
    lines: {},
  };

  // ---------------------------------------------------------------------------------------------- helpers
  function fmt(value, digits) {
    if (value === null || value === undefined || value === "") return "—";
    const x = Number(value);
    if (!isFinite(x)) return String(value);
    let d = digits;
    if (d === undefined) {
      const a = Math.abs(x);
      d = a >= 1000 ? 2 : a >= 1 ? 4 : a >= 0.01 ? 5 : 8;
    }
    return x.toLocaleString("en-US", { minimumFractionDigits: Math.min(d, 2), maximumFractionDigits: d });
  }
  function money(v) { return fmt(v, 2); }
  function pct(ratio) {
    if (ratio === null || ratio === undefined) return "∞";
    return (Number(ratio) * 100).toFixed(1) + " %";
  }
  function timeOf(ts) {
    if (!ts) return "";
    return new Date(Number(ts)).toLocaleTimeString("en-GB", { hour12: false });
  }
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k === "class") e.className = v;
      else if (k.startsWith("data-")) e.setAttribute(k, v);
      else if (k === "href") e.setAttribute("href", v);
      else e[k] = v;
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }
  function acctLink(account) {
    if (!account) return "—";
    return el("a", { href: "#/account/" + encodeURIComponent(account), class: "acct", "data-account": account }, account);
  }

  async function api(path, options) {
    const r = await fetch(path, { ...(options || {}), headers: { Authorization: "Bearer " + state.key } });
    if (r.status === 401) {
      forgetKey("the key was refused (401)");
      throw new Error("unauthorized");
    }
    const body = await r.json().catch(() => null);
    if (!r.ok) {
      const msg = body && body.error ? body.error.code + ": " + body.error.message : "HTTP " + r.status;
      const err = new Error(msg);
      err.status = r.status;
      throw err;
    }
    return body;
  }

  // ----------------------------------------------------------------------------------------------- the key
  // The key arrives in the URL's fragment (#key=...), which a browser never sends to the server, so it never
  // reaches an access log; it is moved to sessionStorage at once and the fragment cleared.
  function loadKey() {
    const hash = new URLSearchParams(window.location.hash.replace(/^#/, ""));
    const fromUrl = hash.get("key");
    if (fromUrl) {
      sessionStorage.setItem(KEY_STORE, fromUrl);
      history.replaceState(null, "", window.location.pathname + window.location.search);
    }
    return sessionStorage.getItem(KEY_STORE);
  }
  function forgetKey(reason) {
    sessionStorage.removeItem(KEY_STORE);
    state.key = null;
    if (state.ws) state.ws.close();
    $("login-error").textContent = reason || "";
    show("login");
  }
  function show(which) {
    for (const id of ["login", "overview", "account"]) $(id).hidden = id !== which;
    $("logout").hidden = which === "login";
  }

  // ---------------------------------------------------------------------------------------------- marks
  function setMark(symbol, price, ts) {
    const m = state.marks[symbol] || { first: price };
    m.price = price;
    state.marks[symbol] = m;
    const h = state.markHistory[symbol] || (state.markHistory[symbol] = []);
    const sec = (ts ? Number(ts) : Date.now()) / 1000;
    if (!h.length || sec >= h[h.length - 1][0]) h.push([sec, Number(price)]);
    if (h.length > 5000) h.splice(0, h.length - 5000);
    renderMarks();
    if (state.route.page === "account" && symbol === state.acctSymbol) drawPriceChart();
  }
  function renderMarks() {
    const nav = $("marks");
    nav.replaceChildren(...Object.keys(state.marks).sort().map((s) => {
      const m = state.marks[s];
      const chg = (Number(m.price) / Number(m.first) - 1) * 100;
      return el("span", { class: "mark", "data-symbol": s, "data-value": m.price }, el("b", {}, s), fmt(m.price),
        " ", el("span", { class: "chg " + (chg >= 0 ? "up" : "down") }, (chg >= 0 ? "+" : "") + chg.toFixed(2) + "%"));
    }));
  }
  async function loadMarkets() {
    const markets = await api("/v1/markets");
    const list = Array.isArray(markets) ? markets : markets.markets || [];
    for (const m of list) if (m.mark) setMark(m.symbol, m.mark, null);
  }

  // -------------------------------------------------------------------------------------- insurance fund
  async function loadFund() {
    const f = await api("/v1/insurance-fund");
    const balances = f.balances || {};
    const asset = balances.USDT !== undefined ? "USDT" : Object.keys(balances)[0] || "USDT";
    state.fund.asset = asset;
    let hist = f.history || [];
    if (!Array.isArray(hist)) hist = hist[asset] || [];
    state.fund.points = hist.map((p) => [Number(p[0]) / 1000, Number(p[1])]);
    setFundBalance(balances[asset]);
    drawFundChart();
  }
  function setFundBalance(v) {
    const b = $("fund-balance");
    b.textContent = v === undefined ? "—" : money(v) + " " + state.fund.asset;
    b.setAttribute("data-value", v === undefined ? "" : v);
  }
  function onFund(msg) {
    const p = msg.payload || {};
    if (p.asset !== state.fund.asset) return;
    state.fund.points.push([Number(msg.ts) / 1000, Number(p.balance)]);
    if (state.fund.points.length > 10000) state.fund.points.shift();
    setFundBalance(p.balance);
    scheduleFundDraw();
  }
  let fundDrawPending = false;
  function scheduleFundDraw() {
    if (fundDrawPending) return;
    fundDrawPending = true;
    setTimeout(() => { fundDrawPending = false; drawFundChart(); }, 500);
  }
  function chartWidth(container) {
    return Math.max(300, container.clientWidth || container.parentElement.clientWidth - 30);
  }
  function drawFundChart() {
    const box = $("fund-chart");
    if (box.offsetParent === null) return;
    const pts = state.fund.points;
    const data = [pts.map((p) => p[0]), pts.map((p) => p[1])];
    if (state.fundChart) {
      state.fundChart.setData(data);
      return;
    }
    if (!window.uPlot) return;
    state.fundChart = new uPlot({
      width: chartWidth(box), height: 220,
      scales: { x: { time: true } },
      axes: axes(),
      series: [{}, { label: "fund " + state.fund.asset, stroke: "#58a6ff", width: 2, fill: "rgba(88,166,255,0.12)",
        stepped: { align: 1 }, value: (u, v) => v === null ? "—" : money(v) }],
      cursor: { drag: { x: false, y: false } },
    }, data, box);
  }
  function axes() {
    const grid = { stroke: "#2a3441", width: 1 };
    return [{ stroke: "#8593a3", grid }, { stroke: "#8593a3", grid, size: 80 }];
  }

  // -------------------------------------------------------------------------------------------- the feed
  function describe(ev) {
    const p = ev.payload || {};
    const r = ev.result || {};
    switch (ev.type) {
      case "margin_call":
        return { kind: "margin_call", label: "margin call", account: p.account, symbol: p.scope === "isolated" ? (p.what || "").split(":")[0] : "",
          what: (p.previous_band || "?") + " → " + p.band + " · ratio " + pct(p.margin_ratio),
          amount: p.equity, unit: "equity" };
      case "partial_liquidation":
        return { kind: "partial_liquidation", label: "partial liquidation", account: p.account, symbol: p.symbol,
          what: p.size + " @ " + fmt(p.price) + " · tier " + p.tier_before + (p.tier_after ? " → " + p.tier_after : "") +
            (r.liquidation_fee ? " · fee " + money(r.liquidation_fee) : ""),
          amount: String(Number(p.size) * Number(p.price)), unit: "notional" };
      case "liquidation":
        return { kind: "liquidation", label: p.mode === "adl" ? "liquidation (ADL)" : "liquidation", account: p.account, symbol: p.symbol,
          what: p.size + " @ " + fmt(p.price) + " · bankruptcy " + fmt(p.bankruptcy_price) +
            (p.counterparty === "venue" ? " · venue loss " + money(p.venue_loss) : ""),
          amount: String(Number(p.size) * Number(p.close_price || p.price)), unit: "notional" };
      case "adl":
        return { kind: "adl", label: "ADL", account: p.account, symbol: p.symbol,
          what: p.size + " @ " + fmt(p.price) + " · rank " + p.rank + (p.bankrupt_account ? " · for " + p.bankrupt_account : ""),
          amount: String(Number(p.size) * Number(p.price)), unit: "notional" };
      case "bankruptcy_settlement": {
        const paid = Number(r.insurance_paid || 0);
        if (paid > 0) return { kind: "insurance", label: "fund pays deficit", account: p.account, symbol: "",
          what: "insurance fund covers the deficit" + (Number(r.venue_absorbed || 0) > 0 ? " · venue " + money(r.venue_absorbed) : ""),
          amount: r.insurance_paid, unit: p.asset || "USDT" };
        return null;
      }
      default:
        return null;
    }
  }
  function isWorsening(ev) {
    const rank = { healthy: 0, warning: 1, reduce_only: 2, liquidation: 3 };
    const p = ev.payload || {};
    return (rank[p.band] || 0) > (rank[p.previous_band] || 0);
  }
  function feedRow(ev, d, fresh) {
    return el("tr", { class: "feed-row" + (fresh ? " fresh" : ""), "data-type": ev.type, "data-kind": d.kind,
      "data-account": d.account || "", "data-seq": ev.seq },
      el("td", {}, timeOf(ev.ts)),
      el("td", {}, el("span", { class: "chip " + d.kind }, d.label)),
      el("td", {}, acctLink(d.account)),
      el("td", {}, d.symbol || ""),
      el("td", {}, d.what),
      el("td", { class: "num", "data-value": d.amount }, money(d.amount) + " " + (d.unit === "notional" ? "USDT" : d.unit === "equity" ? "eq." : d.unit)));
  }
  function count(ev, d) {
    if (ev.type === "margin_call") state.counts.margin_call++;
    else if (d.kind === "insurance") state.counts.insurance++;
    else if (ev.type === "partial_liquidation") state.counts.partial_liquidation++;
    else if (ev.type === "adl") state.counts.adl++;
    else if (ev.type === "liquidation") state.counts.liquidation++;
    for (const [k, v] of Object.entries(state.counts)) $("c-" + k).textContent = v;
  }
  function addToFeed(ev, fresh) {
    if (ev.seq !== undefined && state.seen.has(ev.seq)) return;
    if (ev.type === "margin_call" && !isWorsening(ev)) return;
    const d = describe(ev);
    if (!d) return;
    if (ev.seq !== undefined) state.seen.add(ev.seq);
    count(ev, d);
    const body = $("feed");
    body.prepend(feedRow(ev, d, fresh));
    while (body.children.length > FEED_MAX) body.lastChild.remove();
    if (state.route.page === "account" && d.account === state.route.account) loadAccountEvents();
  }
  async function recentAfter(n) {
    // GET /v1/events scans forward from ?after=seq: start n events before the end of the log
    try {
      const h = await fetch("/healthz").then((r) => r.json());
      return Math.max(0, Number(h.seq || 0) - n);
    } catch (e) { return 0; }
  }
  async function loadRecentEvents() {
    try {
      const after = await recentAfter(20000);
      const res = await api("/v1/events?type=" + FEED_TYPES.join(",") + "&limit=1000&after=" + after);
      const events = Array.isArray(res) ? res : res.events || [];
      events.sort((a, b) => a.seq - b.seq);
      for (const ev of events.slice(-200)) addToFeed(ev, false);
    } catch (e) { /* viewers and older servers: the live stream still fills the feed */ }
  }

  // ---------------------------------------------------------------------------------------- the stream
  // A browser cannot put the key in a WebSocket's headers, and keys never travel in URLs: the key (in a
  // header) buys a single-use, short-lived ticket, and the ticket opens the stream.
  async function connect() {
    if (!state.key) return;
    let ticket;
    try {
      ticket = (await api("/v1/stream/tickets", { method: "POST" })).ticket;
    } catch (e) {
      setConn(false);
      if (state.key) setTimeout(connect, Math.min(10000, 500 * 2 ** state.wsRetry++));
      return;
    }
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const topics = "marks,margin_calls,liquidations,adl,insurance_fund";
    const ws = new WebSocket(proto + "//" + location.host + "/v1/stream?topics=" + topics + "&ticket=" + encodeURIComponent(ticket));
    state.ws = ws;
    ws.onopen = () => { state.wsRetry = 0; setConn(true); };
    ws.onclose = () => {
      setConn(false);
      if (state.key && state.ws === ws) setTimeout(connect, Math.min(10000, 500 * 2 ** state.wsRetry++));
    };
    ws.onmessage = (m) => {
      let msg;
      try { msg = JSON.parse(m.data); } catch (e) { return; }
      const batch = Array.isArray(msg) ? msg : [msg];
      for (const x of batch) onMessage(x);
    };
  }
  function setConn(on) {
    const c = $("conn");
    c.textContent = on ? "live" : "offline";
    c.className = "conn " + (on ? "on" : "off");
  }
  function onMessage(msg) {
    if (msg.topic === "marks" || msg.type === "mark" || msg.type === "marks") {
      const p = msg.payload || {};
      if (p.symbol) setMark(p.symbol, p.price, msg.ts);
      for (const m of Array.isArray(p.marks) ? p.marks : []) setMark(m.symbol, m.price, msg.ts);  // a multi-symbol tick
    } else if (msg.topic === "insurance_fund") {
      onFund(msg);
    } else if (msg.type) {
      addToFeed(msg, true);
    }
  }

  // ------------------------------------------------------------------------------------- accounts at risk
  async function loadRisk() {
    try {
      const res = await api("/v1/risk/accounts?limit=20");
      const rows = Array.isArray(res) ? res : res.accounts || [];
      $("risk-table").tBodies[0].replaceChildren(...rows.map((r) => el("tr", { "data-account": r.account },
        el("td", {}, acctLink(r.account)),
        el("td", {}, r.scope === "isolated" ? "isolated " + (r.what || "").split(":")[0] : "cross " + r.what),
        el("td", { class: "num" }, money(r.equity)),
        el("td", { class: "num" }, money(r.maintenance_margin)),
        el("td", { class: "num", "data-value": r.margin_ratio === null ? "inf" : r.margin_ratio }, pct(r.margin_ratio)),
        el("td", {}, el("span", { class: "band " + r.band }, r.band.replace("_", "-") + (r.liquidating ? " ⟳" : ""))))));
      $("risk-note").textContent = rows.length ? "" : "no open positions";
    } catch (e) {
      $("risk-note").textContent = e.status === 403 ? "accounts at risk need an admin key" : String(e.message);
    }
  }

  // ------------------------------------------------------------------------------------ liquidation map
  // GET /v1/liquidation-map drawn by liqmap.js (the same code as the standalone HTML of the CLI); any role.
  async function loadMap() {
    const symbol = $("lm-symbol").value;
    try {
      const data = await api("/v1/liquidation-map?range=0.3&steps=30" + (symbol ? "&symbol=" +
        encodeURIComponent(symbol) : ""));
      const known = new Set([...$("lm-symbol").options].map((o) => o.value));
      for (const s of data.symbols) {
        if (!known.has(s.symbol)) $("lm-symbol").append(el("option", { value: s.symbol }, s.symbol));
      }
      window.LiqMap.draw($("liqmap"), data);
      $("liqmap").setAttribute("data-seq", data.seq);
      $("lm-status").textContent = data.no_mark.length ? "no mark yet: " + data.no_mark.join(", ") : "";
    } catch (e) {
      $("lm-status").textContent = String(e.message);
    }
  }
  $("lm-symbol").addEventListener("change", loadMap);

  // ------------------------------------------------------------------------------------------ account page
  async function loadAccount() {
    const id = state.route.account;
    $("acct-id").textContent = id;
    let acct, positions;
    try {
      [acct, positions] = await Promise.all([api("/v1/accounts/" + encodeURIComponent(id)),
        api("/v1/accounts/" + encodeURIComponent(id) + "/positions")]);
    } catch (e) {
      $("positions-note").textContent = e.status === 403 ? "this account needs an admin key or its trader's key" :
        e.status === 404 ? "unknown account" : String(e.message);
      return;
    }
    if (state.route.account !== id) return;
    renderAccountSummary(acct);
    positions = Array.isArray(positions) ? positions : positions.positions || [];
    renderPositions(positions);
  }
  function renderAccountSummary(a) {
    const items = [];
    for (const [asset, s] of Object.entries(a.assets || {})) {
      items.push(["wallet " + asset, money(s.wallet)], ["equity", money(s.equity)], ["maintenance margin", money(s.maintenance_margin)],
        ["margin ratio", s.margin_ratio === null ? "∞" : pct(s.margin_ratio)], ["available", money(s.available)],
        ["withdrawable", money(s.withdrawable)]);
      const b = $("acct-band");
      b.textContent = s.band;
      b.className = "band " + s.band;
    }
    for (const iso of a.isolated || []) {
      items.push(["isolated " + iso.symbol + " margin", money(iso.margin)], [iso.symbol + " ratio", pct(iso.margin_ratio) + " · " + iso.band]);
    }
    $("acct-summary").replaceChildren(el("div", { class: "kv" }, ...items.map(([k, v]) => el("div", {}, el("span", {}, k), v))));
  }
  function renderPositions(list) {
    const body = $("positions-table").tBodies[0];
    body.replaceChildren(...list.map((p) => {
      const tr = el("tr", { "data-symbol": p.symbol, class: p.symbol === state.acctSymbol ? "selected" : "" },
        el("td", {}, el("a", { href: "#/account/" + encodeURIComponent(state.route.account) + "/" + p.symbol }, p.symbol)),
        el("td", {}, p.side), el("td", { class: "num" }, p.size),
        el("td", { class: "num" }, fmt(p.entry_price)), el("td", { class: "num" }, fmt(p.mark)),
        el("td", { class: "num" }, money(p.unrealized_pnl)),
        el("td", { class: "num", "data-value": p.liquidation_price }, fmt(p.liquidation_price)),
        el("td", { class: "num", "data-value": p.bankruptcy_price }, fmt(p.bankruptcy_price)),
        el("td", {}, p.margin_mode + " " + fmt(p.leverage, 0) + "x"),
        el("td", {}, el("span", { class: "band " + p.band }, p.band)));
      return tr;
    }));
    $("positions-note").textContent = list.length ? "" : "no open positions (closed or liquidated)";
    const chosen = list.find((p) => p.symbol === state.route.symbol) || list[0];
    if (!chosen) {
      state.acctSymbol = null;
      state.lines = {};
      $("price-lines").replaceChildren(el("span", { class: "note" }, "no open position: nothing to chart"));
      $("chart-symbol").textContent = "";
      drawPriceChart();
      return;
    }
    state.acctSymbol = chosen.symbol;
    state.lines = { entry: chosen.entry_price, liquidation: chosen.liquidation_price, bankruptcy: chosen.bankruptcy_price };
    $("chart-symbol").textContent = chosen.symbol + " · " + chosen.side + " " + chosen.size;
    $("price-lines").replaceChildren(
      lineLabel("mark", "mark", chosen.mark),
      lineLabel("entry", "entry", chosen.entry_price),
      lineLabel("liquidation", "liquidation", chosen.liquidation_price),
      lineLabel("bankruptcy", "bankruptcy", chosen.bankruptcy_price));
    drawPriceChart();
  }
  function lineLabel(kind, label, value) {
    return el("span", { class: "line " + kind, "data-line": kind, "data-symbol": state.acctSymbol, "data-value": value === null ? "" : value },
      el("b", {}, "— " + label), fmt(value));
  }
  async function loadMarkHistory(symbol) {
    try {
      let after = await recentAfter(20000);
      const events = [];
      for (let page = 0; page < 10; page++) {
        const res = await api("/v1/events?type=mark&limit=1000&after=" + after);
        events.push(...(res.events || []));
        if ((res.events || []).length < 1000 || res.next_after === undefined) break;
        after = res.next_after;
      }
      const pts = events.filter((e) => (e.payload || {}).symbol === symbol).map((e) => [Number(e.ts) / 1000, Number(e.payload.price)]);
      const merged = new Map();
      for (const [t, p] of pts.concat(state.markHistory[symbol] || [])) merged.set(t, p);
      state.markHistory[symbol] = [...merged.entries()].sort((a, b) => a[0] - b[0]);
      drawPriceChart();
    } catch (e) { /* the live marks still draw the chart */ }
  }
  function drawPriceChart() {
    const box = $("price-chart");
    const sym = state.acctSymbol;
    const hist = sym ? state.markHistory[sym] || [] : [];
    const xs = hist.map((p) => p[0]);
    const line = (v) => xs.map(() => (v === null || v === undefined ? null : Number(v)));
    const data = [xs, hist.map((p) => p[1]), line(state.lines.entry), line(state.lines.liquidation), line(state.lines.bankruptcy)];
    if (state.priceChart && state.priceChart._symbol === sym) {
      state.priceChart.setData(data);
      return;
    }
    if (state.priceChart) { state.priceChart.destroy(); state.priceChart = null; }
    if (!window.uPlot || !sym || box.offsetParent === null) return;
    state.priceChart = new uPlot({
      width: chartWidth(box), height: 320,
      scales: { x: { time: true } },
      axes: axes(),
      series: [{},
        { label: sym + " mark", stroke: "#d8dee6", width: 2, value: (u, v) => v === null ? "—" : fmt(v) },
        { label: "entry", stroke: "#58a6ff", width: 1.5, dash: [6, 4], value: (u, v) => v === null ? "—" : fmt(v) },
        { label: "liquidation", stroke: "#f85149", width: 1.5, dash: [6, 4], value: (u, v) => v === null ? "—" : fmt(v) },
        { label: "bankruptcy", stroke: "#bc8cff", width: 1.5, dash: [2, 3], value: (u, v) => v === null ? "—" : fmt(v) }],
      cursor: { drag: { x: false, y: false } },
    }, data, box);
    state.priceChart._symbol = sym;
  }
  async function loadAccountEvents() {
    const id = state.route.account;
    try {
      const res = await api("/v1/events?account=" + encodeURIComponent(id) + "&limit=200");
      const events = (Array.isArray(res) ? res : res.events || []).sort((a, b) => b.seq - a.seq);
      const rows = [];
      for (const ev of events) {
        if (ev.type === "margin_call" && !isWorsening(ev)) continue;
        const d = describe(ev) || { kind: ev.type, label: ev.type.replace(/_/g, " "), account: (ev.payload || {}).account,
          symbol: (ev.payload || {}).symbol || "", what: summarize(ev.payload || {}), amount: (ev.payload || {}).amount, unit: (ev.payload || {}).asset || "" };
        rows.push(feedRow(ev, d, false));
      }
      if (state.route.account === id) $("acct-events").replaceChildren(...rows);
    } catch (e) { /* shown in the positions note */ }
  }
  function summarize(p) {
    const keys = ["side", "size", "price", "leverage", "margin_mode", "asset", "outcome"];
    return keys.filter((k) => p[k] !== undefined).map((k) => k + " " + p[k]).join(" · ");
  }

  // ---------------------------------------------------------------------------------------------- routing
  function parseRoute() {
    const m = location.hash.match(/^#\/account\/([^/]+)(?:\/([^/]+))?/);
    if (m) return { page: "account", account: decodeURIComponent(m[1]), symbol: m[2] ? decodeURIComponent(m[2]) : null };
    return { page: "overview", account: null, symbol: null };
  }
  function route() {
    if (!state.key) { show("login"); return; }
    const r = parseRoute();
    const changedAccount = r.account !== state.route.account;
    state.route = r;
    clearInterval(state.riskTimer);
    clearInterval(state.mapTimer);
    clearInterval(state.acctTimer);
    if (r.page === "account") {
      show("account");
      if (changedAccount) {
        state.acctSymbol = null;
        $("positions-table").tBodies[0].replaceChildren();
        $("acct-events").replaceChildren();
        $("acct-summary").replaceChildren();
        $("price-lines").replaceChildren();
        $("positions-note").textContent = "loading…";
      }
      loadAccount().then(() => { if (state.acctSymbol) loadMarkHistory(state.acctSymbol); });
      loadAccountEvents();
      state.acctTimer = setInterval(loadAccount, 2000);
    } else {
      show("overview");
      drawFundChart();
      loadRisk();
      state.riskTimer = setInterval(loadRisk, 2000);
      loadMap();
      state.mapTimer = setInterval(loadMap, 5000);
    }
  }

  async function start() {
    state.key = loadKey();
    if (!state.key) { show("login"); return; }
    try {
      await loadMarkets();
    } catch (e) {
      if (!state.key) return;
    }
    route();
    connect();
    loadFund().catch(() => {});
    loadRecentEvents();
  }

  window.addEventListener("hashchange", route);
  window.addEventListener("resize", () => {
    for (const c of [state.fundChart, state.priceChart]) if (c) c.setSize({ width: chartWidth(c.root.parentElement), height: c.height });
  });
  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const k = $("key-input").value.trim();
    if (!k) return;
    sessionStorage.setItem(KEY_STORE, k);
    $("login-error").textContent = "";
    start();
  });
  $("logout").addEventListener("click", () => forgetKey(""));
  start();
})();
