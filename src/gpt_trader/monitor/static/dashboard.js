// The dashboard page: reads the JSON API (found through its OpenAPI schema) and draws it with plotly.js.
"use strict";

const state = { schema: null, sessions: [], session: null, stream: null, results: [], runId: null };
const PLOT_CONFIG = { displaylogo: false, responsive: true };
const LAYOUT = { margin: { l: 60, r: 20, t: 36, b: 40 }, font: { size: 12 }, paper_bgcolor: "#fff", plot_bgcolor: "#fff" };

// --- the API, through the paths its schema declares -------------------------------------------------

async function api(template, params = {}, query = {}) {
  if (!state.schema.paths[template]) {
    throw new Error(`the dashboard API has no ${template}`);
  }
  const path = template.replace(/\{(\w+)\}/g, (_, name) => encodeURIComponent(params[name]));
  const search = new URLSearchParams(
    Object.entries(query).filter(([, value]) => value !== undefined && value !== null && value !== "")
  ).toString();
  const response = await fetch(search ? `${path}?${search}` : path, { headers: { Accept: "application/json" } });
  const body = await response.json();
  if (!response.ok) {
    const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    throw new Error(`${response.status}: ${detail}`);
  }
  return body;
}

function schemaEnum(name) {
  const schema = state.schema.components.schemas[name];
  return schema ? schema.enum : [];
}

function say(text) {
  document.getElementById("status").textContent = text;
}

// --- formatting and tables --------------------------------------------------------------------------

const format = {
  text: (v) => (v === null || v === undefined ? "" : String(v)),
  int: (v) => (v === null || v === undefined ? "" : String(v)),
  num: (v) => (v === null || v === undefined ? "" : Number(v).toFixed(2)),
  pct: (v) => (v === null || v === undefined ? "" : `${v >= 0 ? "+" : ""}${(100 * v).toFixed(2)}%`),
  money: (v) => (v === null || v === undefined ? "" : Number(v).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })),
  when: (v) => (v ? v.slice(0, 16).replace("T", " ") : ""),
  params: (v) => Object.entries(v || {}).map(([k, x]) => `${k}=${x}`).join(" "),
  numbers: (v) => Object.entries(v || {})
    .filter(([, x]) => x !== null && typeof x !== "object")
    .map(([k, x]) => `${k}=${typeof x === "number" && !Number.isInteger(x) ? Number(x.toPrecision(4)) : x}`)
    .join(" "),
};

// Left-aligned kinds; the others are numbers.
const TEXT_KINDS = new Set(["text", "params", "when", "numbers"]);

function column(key, label, kind = "text") {
  return { key, label, kind };
}

function table(element, columns, rows, { onClick = null, empty = "nothing yet", sortable = false } = {}) {
  const sort = element.sortState || { key: null, ascending: false };
  let shown = rows;
  if (sortable && sort.key) {
    const sign = sort.ascending ? 1 : -1;
    shown = [...rows].sort((a, b) => compare(a[sort.key], b[sort.key]) * sign);
  }
  const head = columns
    .map((c) => {
      const classes = [TEXT_KINDS.has(c.kind) ? "text" : ""];
      if (sortable && sort.key === c.key) classes.push("sorted", sort.ascending ? "ascending" : "");
      return `<th data-key="${c.key}" class="${classes.join(" ").trim()}">${escape(c.label)}</th>`;
    })
    .join("");
  const body = shown.length
    ? shown
        .map((row, index) => {
          const cells = columns.map((c) => {
            const value = row[c.key];
            const tone = (c.kind === "pct" || c.key === "pnl") && value ? (value > 0 ? "up" : "down") : "";
            const textual = TEXT_KINDS.has(c.kind) ? "text" : "";
            return `<td class="${tone} ${textual}">${escape(format[c.kind](value))}</td>`;
          });
          return `<tr data-index="${index}" class="${onClick ? "link" : ""}">${cells.join("")}</tr>`;
        })
        .join("")
    : `<tr><td class="empty" colspan="${columns.length}">${escape(empty)}</td></tr>`;
  element.innerHTML = `<thead><tr>${head}</tr></thead><tbody>${body}</tbody>`;
  if (onClick) {
    element.querySelectorAll("tbody tr.link").forEach((tr) => {
      tr.addEventListener("click", () => onClick(shown[Number(tr.dataset.index)]));
    });
  }
  if (sortable) {
    element.querySelectorAll("th").forEach((th) => {
      th.addEventListener("click", () => {
        const key = th.dataset.key;
        element.sortState = { key, ascending: sort.key === key ? !sort.ascending : false };
        table(element, columns, rows, { onClick, empty, sortable });
      });
    });
  }
}

function compare(a, b) {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  return typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b));
}

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// --- live: sessions, accounts, equity that grows as the store does ----------------------------------

const ACCOUNT_COLUMNS = [
  column("name", "account"), column("strategy", "strategy"), column("product_id", "product"),
  column("status", "status"), column("equity", "equity", "money"), column("pnl", "pnl", "money"),
  column("pnl_pct", "return", "pct"), column("units", "position", "num"), column("open_orders", "open orders", "int"),
  column("fills", "fills", "int"), column("round_trips", "round trips", "int"), column("win_rate", "win rate", "pct"),
];

async function showLive() {
  state.sessions = await api("/api/sessions");
  const select = document.getElementById("session-select");
  select.innerHTML = state.sessions
    .map((s) => `<option value="${s.id}">#${s.id} ${escape(s.name)} (${s.mode}, ${s.status})</option>`)
    .join("");
  if (!state.sessions.length) {
    document.getElementById("session-facts").textContent = "No trading sessions in the database yet.";
    table(document.getElementById("accounts-table"), ACCOUNT_COLUMNS, [], { empty: "no accounts" });
    return;
  }
  const chosen = state.sessions.find((s) => s.id === state.session) || state.sessions[0];
  select.value = String(chosen.id);
  await showSession(chosen.id);
}

async function showSession(sessionId) {
  closeStream();
  state.session = sessionId;
  const session = state.sessions.find((s) => s.id === sessionId);
  document.getElementById("session-facts").textContent =
    `run ${session.run_id}; started ${format.when(session.started_at)}; last heartbeat ${format.when(session.heartbeat_at)}`;
  table(document.getElementById("accounts-table"), ACCOUNT_COLUMNS, session.accounts, { empty: "no accounts" });
  document.getElementById("rotation-rules").textContent = session.rotation
    ? `(rules: ${format.numbers(session.rotation)})`
    : "(this session does not rotate)";
  const charts = document.getElementById("equity-charts");
  charts.innerHTML = "";
  let lastId = 0;
  for (const account of session.accounts) {
    const points = await api("/api/accounts/{account_id}/equity", { account_id: account.id });
    const div = document.createElement("div");
    div.id = `equity-${account.id}`;
    div.className = "chart";
    charts.appendChild(div);
    const trace = { x: points.map((p) => p.time), y: points.map((p) => p.equity), mode: "lines", name: account.name };
    const title = `${account.name}: ${account.strategy} on ${account.product_id}`;
    Plotly.newPlot(div, [trace], { ...LAYOUT, title: { text: title }, yaxis: { title: { text: account.quote_currency } } }, PLOT_CONFIG);
    for (const p of points) lastId = Math.max(lastId, p.id);
  }
  await refreshTrading(sessionId);
  openStream(sessionId, lastId);
}

async function refreshTrading(sessionId) {
  const [orders, fills, feed, rotations] = await Promise.all([
    api("/api/orders", {}, { session_id: sessionId, open_only: true }),
    api("/api/fills", {}, { session_id: sessionId, limit: 50 }),
    api("/api/feed", {}, { session_id: sessionId }),
    api("/api/rotations", {}, { session_id: sessionId, limit: 100 }),
  ]);
  table(document.getElementById("orders-table"), [
    column("client_order_id", "order"), column("product_id", "product"), column("side", "side"),
    column("order_type", "type"), column("base_size", "size", "num"), column("limit_price", "limit", "money"),
    column("created_at", "created", "when"),
  ], orders, { empty: "no open orders" });
  table(document.getElementById("fills-table"), [
    column("time", "time", "when"), column("account", "account"), column("product_id", "product"),
    column("side", "side"), column("price", "price", "money"), column("size", "size", "num"),
    column("fee", "fee", "money"), column("liquidity", "liquidity"),
  ], fills, { empty: "no fills yet" });
  table(document.getElementById("feed-table"), [
    column("product_id", "product"), column("connection", "connection", "int"), column("kind", "state"),
    column("time", "since", "when"),
  ], feed.latest, { empty: "no feed events recorded" });
  table(document.getElementById("rotations-table"), [
    column("time", "rotation", "when"), column("candidate", "candidate"), column("account", "account"),
    column("decision", "decision"), column("reason", "reason"), column("numbers", "numbers", "numbers"),
  ], rotations, { empty: "no rotation decisions recorded" });
}

function openStream(sessionId, afterId) {
  const stream = new EventSource(`/api/stream?session_id=${sessionId}&after_id=${afterId}`);
  stream.addEventListener("equity", (message) => {
    const update = JSON.parse(message.data);
    const byAccount = new Map();
    for (const p of update.points) {
      if (!byAccount.has(p.account_id)) byAccount.set(p.account_id, { x: [], y: [] });
      byAccount.get(p.account_id).x.push(p.time);
      byAccount.get(p.account_id).y.push(p.equity);
    }
    for (const [accountId, points] of byAccount) {
      const div = document.getElementById(`equity-${accountId}`);
      if (div) Plotly.extendTraces(div, { x: [points.x], y: [points.y] }, [0]);
    }
    table(document.getElementById("accounts-table"), ACCOUNT_COLUMNS, update.accounts, { empty: "no accounts" });
    refreshTrading(sessionId).catch((error) => say(error.message));
    say(`live: updated ${new Date().toLocaleTimeString()}`);
  });
  state.stream = stream;
}

function closeStream() {
  if (state.stream) state.stream.close();
  state.stream = null;
}

// --- research: runs, a sweep's heat map and distribution, one result's curves ----------------------

const RUN_COLUMNS = [
  column("id", "id", "int"), column("kind", "kind"), column("name", "name"), column("status", "status"),
  column("source", "source"), column("started_at", "started", "when"), column("results", "results", "int"),
  column("best_sharpe", "best sharpe", "num"), column("best_return", "best return", "pct"),
];

async function showRuns() {
  const form = document.getElementById("run-filters");
  const filters = Object.fromEntries(new FormData(form).entries());
  const runs = await api("/api/runs", {}, filters);
  table(document.getElementById("runs-table"), RUN_COLUMNS, runs, {
    sortable: true, empty: "no runs match", onClick: (run) => { location.hash = `#run/${run.id}`; },
  });
  say(`${runs.length} runs`);
  await showComparison(filters.strategy);
}

async function showComparison(strategy) {
  const panel = document.getElementById("compare-panel");
  panel.hidden = !strategy;
  if (!strategy) return;
  const comparison = await api("/api/compare", {}, { strategy });
  document.getElementById("compare-title").textContent =
    `${strategy}: backtest vs simulation vs paper (returns over each run's own period)`;
  const kinds = comparison.kinds.map((k) => ({ ...k, note: k.runs ? "" : "no runs yet" }));
  table(document.getElementById("compare-table"), [
    column("kind", "kind"), column("runs", "runs", "int"), column("mean_return", "mean return", "pct"),
    column("mean_win_rate", "mean win rate", "pct"), column("closed_trades", "closed trades", "int"), column("note", ""),
  ], kinds);
  table(document.getElementById("gap-table"), [
    column("product_id", "product"), column("backtest_return", "backtest", "pct"),
    column("paper_return", "paper", "pct"), column("gap", "gap (paper - backtest)", "pct"),
  ], comparison.gaps, { empty: "no gap yet: it needs a backtest and a paper run of the same product" });
}

async function showRun(runId) {
  const run = await api("/api/runs/{run_id}", { run_id: runId });
  const results = await api("/api/runs/{run_id}/results", { run_id: runId });
  state.results = results;
  if (state.runId !== runId) {
    // Another run's axes may not be parameters of this one.
    for (const id of ["heat-x", "heat-y"]) document.getElementById(id).innerHTML = "";
  }
  state.runId = runId;
  document.getElementById("run-title").textContent = `Run ${run.id}: ${run.name} (${run.kind}, ${run.status})`;
  const facts = {
    started: format.when(run.started_at), "code version": run.code_version,
    data: run.data_start ? `${format.when(run.data_start)} → ${format.when(run.data_end)}` : "",
    "data fingerprint": run.data_fingerprint || "", trials: run.trials, results: run.results,
    config: JSON.stringify(run.config),
  };
  document.getElementById("run-facts").innerHTML = Object.entries(facts)
    .filter(([, v]) => v !== "")
    .map(([k, v]) => `<dt>${escape(k)}</dt><dd>${escape(v)}</dd>`)
    .join("");
  table(document.getElementById("results-table"), [
    column("strategy", "strategy"), column("product_id", "product"), column("params", "params", "params"),
    column("total_return", "return", "pct"), column("sharpe", "sharpe", "num"), column("max_drawdown", "max drawdown", "pct"),
    column("trades", "trades", "int"), column("win_rate", "win rate", "pct"), column("buy_and_hold_return", "buy & hold", "pct"),
  ], results.slice(0, 500), {
    sortable: true, empty: "no backtest results (a trading run: see Live)",
    onClick: (result) => { location.hash = `#result/${result.id}`; },
  });
  await showRegimes(runId);
  await showSweep();
}

async function showRegimes(runId) {
  const regimes = await api("/api/runs/{run_id}/regimes", { run_id: runId });
  document.getElementById("regimes-panel").hidden = !regimes.length;
  table(document.getElementById("regimes-table"), [
    column("strategy", "strategy"), column("product_id", "product"), column("params", "params", "params"),
    column("regime", "regime"), column("bars", "bars", "int"), column("share", "share of bars", "pct"),
    column("total_return", "return", "pct"), column("sharpe", "sharpe", "num"),
  ], regimes, { sortable: true });
}

async function showSweep() {
  const panel = document.getElementById("sweep-panel");
  const metricSelect = document.getElementById("heat-metric");
  if (!metricSelect.options.length) {
    metricSelect.innerHTML = schemaEnum("SortColumn").map((m) => `<option>${m}</option>`).join("");
    metricSelect.value = "sharpe";
  }
  const xSelect = document.getElementById("heat-x");
  const ySelect = document.getElementById("heat-y");
  panel.hidden = varyingParameters(state.results).length < 2;  // a single backtest, or one parameter: no map
  if (panel.hidden) return;
  const map = await api("/api/runs/{run_id}/heatmap", { run_id: state.runId }, {
    metric: metricSelect.value, x: xSelect.value, y: ySelect.value,
  });
  for (const [select, chosen] of [[xSelect, map.x], [ySelect, map.y]]) {
    select.innerHTML = map.parameters.map((p) => `<option>${escape(p)}</option>`).join("");
    select.value = chosen;
  }
  Plotly.react("heatmap", [{
    type: "heatmap", x: map.xs.map(String), y: map.ys.map(String), z: map.z, colorscale: [[0, "#b3261e"], [0.5, "#f3efd6"], [1, "#137a3a"]],
    colorbar: { title: { text: map.metric } }, hoverongaps: false,
  }], { ...LAYOUT, title: { text: `${map.metric}: ${map.y} × ${map.x}` }, xaxis: { title: { text: map.x }, type: "category" },
        yaxis: { title: { text: map.y }, type: "category" } }, PLOT_CONFIG);
  const values = state.results.map((r) => r[map.metric]).filter((v) => v !== null);
  Plotly.react("distribution", [{ type: "histogram", x: values, marker: { color: "#2456c8" } }],
    { ...LAYOUT, title: { text: `Distribution of ${map.metric} (${values.length} results)` }, xaxis: { title: { text: map.metric } },
      yaxis: { title: { text: "results" } } }, PLOT_CONFIG);
}

// The parameters that take more than one value across the results (the server's heat map needs two).
function varyingParameters(results) {
  const seen = new Map();
  for (const row of results) {
    for (const [name, value] of Object.entries(row.params || {})) {
      if (!seen.has(name)) seen.set(name, new Set());
      seen.get(name).add(JSON.stringify(value));
    }
  }
  return [...seen].filter(([, values]) => values.size > 1).map(([name]) => name);
}

async function showResult(resultId) {
  say("recomputing the curves from the run's candles…");
  const curves = await api("/api/results/{result_id}/curves", { result_id: resultId });
  const r = curves.result;
  document.getElementById("result-title").textContent =
    `${r.strategy} on ${r.product_id} (${format.params(r.params)}), run ${r.run_id}`;
  document.getElementById("result-note").textContent = curves.same_data
    ? "Curves recomputed from the run's recorded config on the same candles (fingerprint matches)."
    : "Curves recomputed from the run's recorded config, but the candles changed since the run: they may differ.";
  Plotly.react("result-equity", [
    { x: curves.times, y: curves.equity, mode: "lines", name: "strategy" },
    { x: curves.times, y: curves.buy_and_hold, mode: "lines", name: "buy and hold", line: { dash: "dot" } },
  ], { ...LAYOUT, title: { text: "Equity" } }, PLOT_CONFIG);
  Plotly.react("result-drawdown", [
    { x: curves.times, y: curves.drawdown, mode: "lines", fill: "tozeroy", name: "drawdown", line: { color: "#b3261e" } },
  ], { ...LAYOUT, title: { text: "Drawdown" }, yaxis: { tickformat: ".0%" } }, PLOT_CONFIG);
  const trades = curves.trades;
  Plotly.react("result-price", [
    { x: curves.times, y: curves.close, mode: "lines", name: "close", line: { color: "#6b7383" } },
    { x: trades.map((t) => t.entry_time), y: trades.map((t) => t.entry_price), mode: "markers", name: "entry",
      marker: { symbol: "triangle-up", size: 11, color: "#137a3a" } },
    { x: trades.map((t) => t.exit_time), y: trades.map((t) => t.exit_price), mode: "markers", name: "exit",
      marker: { symbol: "triangle-down", size: 11, color: "#b3261e" } },
  ], { ...LAYOUT, title: { text: `Trades on the ${r.product_id} price` } }, PLOT_CONFIG);
  table(document.getElementById("trades-table"), [
    column("entry_time", "entry", "when"), column("exit_time", "exit", "when"), column("side", "side"),
    column("entry_price", "entry price", "money"), column("exit_price", "exit price", "money"),
    column("pnl", "pnl", "money"), column("return", "return", "pct"), column("exit_reason", "reason"),
  ], trades, { empty: "no trades" });
  say(`${trades.length} trades`);
}

// --- navigation -------------------------------------------------------------------------------------

async function route() {
  const [view, id] = (location.hash.slice(1) || "live").split("/");
  if (view !== "live") closeStream();
  for (const section of document.querySelectorAll("main > section")) section.hidden = section.id !== `view-${view}`;
  document.getElementById("nav-live").classList.toggle("active", view === "live");
  document.getElementById("nav-runs").classList.toggle("active", view !== "live");
  try {
    if (view === "live") await showLive();
    else if (view === "runs") await showRuns();
    else if (view === "run") await showRun(Number(id));
    else if (view === "result") await showResult(Number(id));
  } catch (error) {
    say(error.message);
  }
}

async function start() {
  const response = await fetch("/openapi.json");
  state.schema = await response.json();
  document.getElementById("session-select").addEventListener("change", (event) => {
    showSession(Number(event.target.value)).catch((error) => say(error.message));
  });
  document.getElementById("run-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    showRuns().catch((error) => say(error.message));
  });
  for (const id of ["heat-x", "heat-y", "heat-metric"]) {
    document.getElementById(id).addEventListener("change", () => showSweep().catch((error) => say(error.message)));
  }
  window.addEventListener("hashchange", route);
  await route();
}

start().catch((error) => say(error.message));
