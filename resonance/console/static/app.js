/* Resonance live console: polls the JSON API and redraws the panels.
 *
 * Polling (not SSE) on purpose: a refresh is a handful of small GETs, survives a
 * restarted server without reconnect logic, and never holds a thread open.
 * The poll period can be changed with ?poll=MILLISECONDS (tests use a short one).
 */
"use strict";

const PALETTE = ["#2f7ed8", "#e4572e", "#29a35a", "#a05195", "#f2a541", "#17becf",
                 "#8c564b", "#d62728", "#7f7f7f", "#bcbd22", "#1f3b73", "#ff7f0e"];
const METRICS = ["resonance_index", "drift_share", "accuracy", "energy_kwh", "latency_p95_ms"];
const BOUNDS = {resonance_index: {min: 0, max: 100}, drift_share: {min: 0, max: 1},
                accuracy: {min: 0, max: 1}, energy_kwh: {min: 0, energy: true},
                latency_p95_ms: {min: 0}};
/* A window's accuracy counts the labels that arrived so far: the newest window, or one
 * with fewer labels than this, is drawn provisional (faint, dashed, n in the tooltip). */
const SETTLED_LABELS = 30;
const KINDS = ["telemetry", "predictions", "outcomes", "energy", "rejected", "unreferenced"];

const state = {consortium: null, model: null, consortia: [], colors: {}};
const params = new URLSearchParams(location.search);
const POLL_MS = Math.max(200, Number(params.get("poll")) || 2000);

const $ = (sel) => document.querySelector(sel);

async function getJSON(path) {
  const res = await fetch(path, {cache: "no-store"});
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return res.json();
}

function colorOf(model) {
  if (!(model in state.colors)) {
    state.colors[model] = PALETTE[Object.keys(state.colors).length % PALETTE.length];
  }
  return state.colors[model];
}

function setConsortia(names, busiest) {
  const select = $("#consortium");
  if (names.join("\n") !== state.consortia.join("\n")) {
    state.consortia = names;
    select.textContent = "";
    for (const name of names) {
      const opt = document.createElement("option");
      opt.value = opt.textContent = name;
      select.appendChild(opt);
    }
  }
  const wanted = decodeURIComponent(location.hash.replace(/^#/, ""));
  if (!state.consortium || !names.includes(state.consortium)) {
    // open where something happens (most firing alerts), unless the URL names one
    state.consortium = names.includes(wanted) ? wanted
      : (names.includes(busiest) ? busiest : (names[0] || null));
    state.model = null;
  }
  if (state.consortium) select.value = state.consortium;
}

function renderCounters(health) {
  const box = $("#counters");
  box.textContent = "";
  const items = KINDS.map((k) => [k, health.events[k] ?? 0]);
  items.push(["windows closed", health.windows_closed ?? 0]);
  items.push(["events / s", health.events_per_s ?? 0]);
  for (const [label, value] of items) {
    const card = document.createElement("div");
    card.className = "counter" + (label === "rejected" && value > 0 ? " warn" : "");
    card.dataset.counter = label;
    card.innerHTML = `<div class="value"></div><div class="label"></div>`;
    card.querySelector(".value").textContent =
      Number.isInteger(value) ? value.toLocaleString("en") : Charts.fmt(value);
    card.querySelector(".label").textContent = label;
    box.appendChild(card);
  }
  Charts.lineChart($("#chart-throughput"), [{
    name: "events/s", color: "#2f7ed8", t: health.throughput.t, y: health.throughput.events_per_s,
  }], {min: 0});
  const dlq = $("#dlq");
  dlq.textContent = "";
  const head = document.createElement("div");
  head.className = "chart-title";
  head.textContent = "DLQ by reason";
  dlq.appendChild(head);
  const reasons = Object.entries(health.dlq || {}).sort((a, b) => b[1] - a[1]);
  if (!reasons.length) {
    const none = document.createElement("div");
    none.className = "muted";
    none.textContent = "no rejected events";
    dlq.appendChild(none);
  }
  for (const [reason, n] of reasons) {
    const row = document.createElement("div");
    row.className = "dlq-row";
    row.innerHTML = `<span class="n"></span> <span class="reason"></span>`;
    row.querySelector(".n").textContent = n.toLocaleString("en");
    row.querySelector(".reason").textContent = reason;
    dlq.appendChild(row);
  }
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function renderModels(data) {
  const body = $("#model-table tbody");
  body.textContent = "";
  const models = data.models;
  if (!state.model || !models.some((m) => m.model === state.model)) {
    state.model = models.length ? models[0].model : null;
  }
  for (const m of models) {
    const row = document.createElement("tr");
    row.dataset.model = m.model;
    if (m.model === state.model) row.className = "selected";
    const name = cell(row, "");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = colorOf(m.model);
    name.append(swatch, m.model);
    cell(row, m.samples.toLocaleString("en"), "num");
    cell(row, Charts.fmt(m.resonance_index), "num");
    cell(row, Charts.fmt(m.drift_share), "num");
    cell(row, Charts.fmt(m.accuracy), "num");
    cell(row, Charts.energy(m.energy_kwh), "num");
    cell(row, Charts.fmt(m.latency_p95_ms), "num");
    const flag = cell(row, m.drift_detected ? `drift since ${(m.first_drift_at || "").slice(11, 19)}` : "ok");
    flag.className = m.drift_detected ? "flag drift" : "flag ok";
    row.addEventListener("click", () => { state.model = m.model; refresh(); });
    body.appendChild(row);
  }
  const legend = $("#legend");
  legend.textContent = "";
  for (const m of models) {
    const item = document.createElement("span");
    item.className = "legend-item";
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = colorOf(m.model);
    item.append(swatch, m.model);
    legend.appendChild(item);
  }
  for (const metric of METRICS) {
    const el = document.querySelector(`[data-chart="${metric}"]`);
    const series = models.map((m) => {
      const s = {name: m.model, color: colorOf(m.model), t: m.series.t, y: m.series[metric]};
      if (metric === "accuracy" && m.series.accuracy_n) {
        const last = m.series.t.length - 1;
        s.n = m.series.accuracy_n;
        s.provisional = s.n.map((n, i) => i === last || n < SETTLED_LABELS);
      }
      return s;
    });
    Charts.lineChart(el, series, BOUNDS[metric] || {});
  }
}

const PSI_NOTE = "drift or stable is the policy's verdict, not a PSI threshold: a significance "
  + "test (KS for numeric, chi-squared for categorical features, Holm-corrected) on at least "
  + "the policy's minimum number of values (`resonance policy show`). PSI over a few hundred "
  + "values is noisy: with k reference bins its expected value without any drift is about "
  + "(k - 1) / n, e.g. 0.2 for 50 bins at n = 250, so 0.3-0.5 can still be stable.";

function renderFeatures(detail) {
  $("#feature-model").textContent = detail ? detail.model : "—";
  const box = $("#feature-cards");
  box.textContent = "";
  if (!detail) return;
  for (const f of detail.features) {
    const card = document.createElement("div");
    card.className = "feature" + (f.drift ? " drifting" : "");
    card.dataset.feature = f.feature;
    const title = document.createElement("div");
    title.className = "feature-title";
    title.innerHTML = `<b></b> <span class="badge"></span> <span class="stat"></span>`;
    title.querySelector("b").textContent = f.feature;
    title.querySelector(".badge").textContent = f.drift ? "drift" : "stable";
    title.querySelector(".stat").textContent =
      `PSI ${Charts.fmt(f.psi)} · JS ${Charts.fmt(f.js)} · n ${f.n.toLocaleString("en")}`;
    title.querySelector(".stat").title = PSI_NOTE;
    card.appendChild(title);
    const hist = document.createElement("div");
    hist.className = "chart small";
    hist.dataset.chart = `hist:${f.feature}`;
    card.appendChild(hist);
    Charts.barChart(hist, f.bins, [
      {name: "reference", color: "#b8bec6", values: f.reference},
      {name: "current", color: f.drift ? "#e4572e" : "#2f7ed8", values: f.current},
    ]);
    const trend = document.createElement("div");
    trend.className = "chart small";
    trend.dataset.chart = `psi:${f.feature}`;
    trend.dataset.title = "PSI per window";
    card.appendChild(trend);
    Charts.lineChart(trend, [{name: "PSI", color: "#a05195", t: f.series.t, y: f.series.psi}],
                     {min: 0});
    box.appendChild(card);
  }
}

function renderDeliveries(data) {
  const panel = $("#deliveries");
  const rows = (data && data.deliveries) || [];
  panel.hidden = rows.length === 0;
  const body = panel.querySelector("tbody");
  body.textContent = "";
  for (const d of rows) {
    const row = document.createElement("tr");
    row.className = `delivery ${d.status}`;
    cell(row, d.at.slice(0, 19).replace("T", " "));
    cell(row, d.alert_id);
    cell(row, d.transition);
    cell(row, d.channel);
    cell(row, String(d.attempt));
    cell(row, d.digest_of.length ? `${d.status} (${d.digest_of.length})` : d.status, "status");
    cell(row, d.http_status == null ? "" : String(d.http_status));
    cell(row, d.error || "");
    body.appendChild(row);
  }
}

function setStatus(text, ok) {
  const el = $("#status");
  el.textContent = text;
  el.className = "status " + (ok ? "ok" : "down");
}

let busy = false;
async function refresh() {
  if (busy) return;
  busy = true;
  try {
    const [list, health] = await Promise.all([getJSON("/api/consortia"), getJSON("/api/health")]);
    setConsortia(list.consortia, list.busiest);
    renderCounters(health);
    if (state.consortium) {
      const q = encodeURIComponent(state.consortium);
      const data = await getJSON(`/api/consortium?name=${q}`);
      if (data.consortium === state.consortium) {
        renderModels(data);
        const detail = state.model
          ? await getJSON(`/api/model?consortium=${q}&model=${encodeURIComponent(state.model)}`)
          : null;
        renderFeatures(detail);
        const estimation = state.model
          ? await getJSON(`/api/estimation?consortium=${q}&model=${encodeURIComponent(state.model)}`)
              .catch(() => null)
          : null;
        Estimation.render($("#estimation"), estimation);
      }
    }
    renderDeliveries(await getJSON("/api/deliveries").catch(() => null));
    document.body.dataset.consortium = state.consortium || "";
    setStatus(`live · updated ${new Date().toISOString().slice(11, 19)} UTC`, true);
  } catch (err) {
    setStatus(`waiting for the pipeline (${err.message})`, false);
  } finally {
    busy = false;
  }
}

$("#consortium").addEventListener("change", (ev) => {
  state.consortium = ev.target.value;
  state.model = null;
  history.replaceState(null, "", `${location.pathname}${location.search}#${encodeURIComponent(state.consortium)}`);
  refresh();
});

refresh();
setInterval(refresh, POLL_MS);
