/* Hand-written SVG charts for the Resonance console: no CDN, no dependencies.
 *
 * lineChart(el, series, opts): series = [{name, color, t: [iso], y: [number|null]}]
 * barChart(el, labels, groups, opts): groups = [{name, color, values: [number]}]
 * Each chart sets el.dataset.points to the number of drawn points, which the
 * browser test reads to check that charts grow over time.
 */
"use strict";

const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const W = 360, H = 170, PAD = {l: 44, r: 8, t: 8, b: 22};

  function svgEl(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }

  function fmt(v) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    const a = Math.abs(v);
    if (a === 0) return "0";
    if (a >= 1000) return v.toFixed(0);
    if (a >= 10) return v.toFixed(1);
    if (a >= 1) return v.toFixed(2);
    if (a >= 0.01) return v.toFixed(3);
    return v.toExponential(1);
  }

  function frame(el) {
    el.textContent = "";
    if (el.dataset.title) {
      const title = document.createElement("div");
      title.className = "chart-title";
      title.textContent = el.dataset.title;
      el.appendChild(title);
    }
    return svgEl("svg", {viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img"}, el);
  }

  function yAxis(svg, lo, hi) {
    const y = (v) => PAD.t + (H - PAD.t - PAD.b) * (1 - (v - lo) / (hi - lo || 1));
    for (let i = 0; i <= 4; i++) {
      const v = lo + (hi - lo) * i / 4;
      svgEl("line", {x1: PAD.l, x2: W - PAD.r, y1: y(v), y2: y(v), class: "grid"}, svg);
      svgEl("text", {x: PAD.l - 4, y: y(v) + 3, class: "tick", "text-anchor": "end"}, svg)
        .textContent = fmt(v);
    }
    return y;
  }

  function clock(ms) {
    return new Date(ms).toISOString().slice(11, 19);
  }

  function lineChart(el, series, opts = {}) {
    const svg = frame(el);
    const pts = [];
    for (const s of series) {
      s.t.forEach((t, i) => {
        const v = s.y[i];
        if (v !== null && v !== undefined && isFinite(v)) pts.push([Date.parse(t), v]);
      });
    }
    el.dataset.points = String(pts.length);
    if (!pts.length) {
      svgEl("text", {x: W / 2, y: H / 2, class: "empty", "text-anchor": "middle"}, svg)
        .textContent = "waiting for data…";
      return;
    }
    let lo = opts.min ?? Math.min(...pts.map((p) => p[1]));
    let hi = opts.max ?? Math.max(...pts.map((p) => p[1]));
    if (hi === lo) { hi = lo + (Math.abs(lo) || 1) * 0.1; lo = opts.min ?? lo - (hi - lo); }
    const t0 = Math.min(...pts.map((p) => p[0]));
    const t1 = Math.max(...pts.map((p) => p[0]));
    const x = (t) => PAD.l + (W - PAD.l - PAD.r) * (t1 === t0 ? 0.5 : (t - t0) / (t1 - t0));
    const y = yAxis(svg, lo, hi);
    svgEl("text", {x: PAD.l, y: H - 6, class: "tick"}, svg).textContent = clock(t0);
    svgEl("text", {x: W - PAD.r, y: H - 6, class: "tick", "text-anchor": "end"}, svg)
      .textContent = clock(t1);
    for (const s of series) {
      let d = "";
      let pen = "M";
      s.t.forEach((t, i) => {
        const v = s.y[i];
        if (v === null || v === undefined || !isFinite(v)) { pen = "M"; return; }
        const px = x(Date.parse(t)), py = y(Math.min(Math.max(v, lo), hi));
        d += `${pen}${px.toFixed(1)},${py.toFixed(1)}`;
        pen = "L";
        const dot = svgEl("circle", {cx: px, cy: py, r: 2.2, fill: s.color, class: "pt"}, svg);
        svgEl("title", {}, dot).textContent = `${s.name} ${clock(Date.parse(t))}: ${fmt(v)}`;
      });
      if (d) svgEl("path", {d, stroke: s.color, class: "line"}, svg);
    }
  }

  function barChart(el, labels, groups, opts = {}) {
    const svg = frame(el);
    const n = labels.length;
    const count = groups.reduce((acc, g) => acc + g.values.length, 0);
    el.dataset.points = String(count);
    if (!n) return;
    const hi = Math.max(opts.max ?? 0, ...groups.flatMap((g) => g.values)) || 1;
    const y = yAxis(svg, 0, hi);
    const slot = (W - PAD.l - PAD.r) / n;
    const bw = Math.max(1, (slot * 0.8) / groups.length);
    groups.forEach((g, gi) => {
      g.values.forEach((v, i) => {
        const x0 = PAD.l + slot * i + slot * 0.1 + bw * gi;
        const rect = svgEl("rect", {
          x: x0, y: y(v), width: bw, height: Math.max(0, y(0) - y(v)),
          fill: g.color, class: "bar",
        }, svg);
        svgEl("title", {}, rect).textContent = `${g.name} ${labels[i]}: ${fmt(v)}`;
      });
    });
    const step = Math.ceil(n / 6);
    labels.forEach((label, i) => {
      if (i % step) return;
      svgEl("text", {x: PAD.l + slot * (i + 0.5), y: H - 6, class: "tick", "text-anchor": "middle"}, svg)
        .textContent = String(label).slice(0, 8);
    });
  }

  return {lineChart, barChart, fmt};
})();
