/* Estimated (CBPE, before labels) against realised accuracy of the selected model.
 *
 * Self-contained on purpose (its own small SVG, no shared chart code): one section,
 * one entry point, Estimation.render(section, payload) with the /api/estimation answer.
 * The band is the estimate's sampling band; a window the guardrails flag is drawn in
 * red and listed with its reasons. A realised value is missing until labels arrive.
 */
"use strict";

const Estimation = (() => {
  const W = 640, H = 170, PAD = {l: 40, r: 12, t: 10, b: 22};
  const NS = "http://www.w3.org/2000/svg";
  const fmt = (v) => (v == null ? "–" : Number(v).toFixed(3));

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }

  function chart(box, rows) {
    box.textContent = "";
    const svg = el("svg", {viewBox: `0 0 ${W} ${H}`, class: "estimation-svg", role: "img"}, box);
    const values = rows.flatMap((r) => [
      ...(r.estimated_accuracy_band || []), r.estimated_accuracy, r.realised_accuracy,
    ]).filter((v) => v != null);
    if (!values.length) return;
    let lo = Math.min(...values), hi = Math.max(...values);
    const pad = Math.max((hi - lo) * 0.1, 0.01);
    lo = Math.max(0, lo - pad); hi = Math.min(1, hi + pad);
    const x = (i) => PAD.l + (rows.length < 2 ? 0.5 : i / (rows.length - 1)) * (W - PAD.l - PAD.r);
    const y = (v) => PAD.t + (1 - (v - lo) / (hi - lo || 1)) * (H - PAD.t - PAD.b);
    for (const v of [lo, (lo + hi) / 2, hi]) {
      el("line", {x1: PAD.l, x2: W - PAD.r, y1: y(v), y2: y(v), class: "grid"}, svg);
      el("text", {x: PAD.l - 4, y: y(v) + 4, "text-anchor": "end", class: "axis"}, svg)
        .textContent = v.toFixed(2);
    }
    const banded = rows.map((r, i) => [i, r.estimated_accuracy_band]).filter(([, b]) => b);
    if (banded.length) {
      const top = banded.map(([i, b]) => `${x(i)},${y(b[1])}`);
      const bottom = banded.slice().reverse().map(([i, b]) => `${x(i)},${y(b[0])}`);
      el("polygon", {points: [...top, ...bottom].join(" "), class: "band"}, svg);
    }
    const line = rows.map((r, i) => [i, r.estimated_accuracy]).filter(([, v]) => v != null);
    el("polyline", {points: line.map(([i, v]) => `${x(i)},${y(v)}`).join(" "),
                    class: "estimated"}, svg);
    rows.forEach((r, i) => {
      if (!r.reliable) {
        el("rect", {x: x(i) - 3, y: PAD.t, width: 6, height: H - PAD.t - PAD.b,
                    class: "unreliable"}, svg);
      }
      if (r.realised_accuracy != null) {
        el("circle", {cx: x(i), cy: y(r.realised_accuracy), r: 3, class: "realised"}, svg);
      }
    });
    const first = rows[0].bucket.slice(11, 16), last = rows[rows.length - 1].bucket.slice(11, 16);
    el("text", {x: PAD.l, y: H - 6, class: "axis"}, svg).textContent = first;
    el("text", {x: W - PAD.r, y: H - 6, "text-anchor": "end", class: "axis"}, svg)
      .textContent = last;
  }

  function table(body, rows) {
    body.textContent = "";
    for (const r of rows.slice(-8).reverse()) {
      const tr = document.createElement("tr");
      tr.className = r.reliable ? "reliable" : "unreliable";
      const band = r.estimated_accuracy_band;
      const cells = [
        r.bucket.slice(11, 16), r.model_version, String(r.n),
        `${fmt(r.estimated_accuracy)}` + (band ? ` [${fmt(band[0])}, ${fmt(band[1])}]` : ""),
        r.realised_accuracy == null ? "awaiting labels" : fmt(r.realised_accuracy),
        `${fmt(r.estimated_roc_auc)} / ${fmt(r.realised_roc_auc)}`,
        r.reliable ? "reliable" : `unreliable: ${r.reasons.join("; ")}`,
      ];
      for (const text of cells) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
  }

  function render(section, payload) {
    const rows = (payload && payload.rows) || [];
    section.hidden = rows.length === 0;
    section.dataset.rows = String(rows.length);
    section.dataset.unreliable = String(rows.filter((r) => !r.reliable).length);
    if (!rows.length) return;
    section.querySelector(".estimation-model").textContent = payload.model;
    chart(section.querySelector(".estimation-chart"), rows);
    table(section.querySelector("tbody"), rows);
  }

  return {render};
})();
