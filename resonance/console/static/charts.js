/* Charts of the Resonance console, drawn by the vendored uPlot (static/vendor/, MIT,
 * served from the package: no CDN). uPlot gives the axes with round ticks, the hover
 * tooltip (legend) and drag-to-zoom (double click resets); this file only maps the
 * console's payloads onto it and keeps one chart per element across refreshes.
 *
 * lineChart(el, series, opts): series = [{name, color, t: [iso], y: [number|null],
 *   provisional?: [bool], n?: [int]}]; opts = {min, max, unit, format}
 * barChart(el, labels, groups, opts): groups = [{name, color, values: [number]}]
 * Each chart sets el.dataset.points to the number of drawn points, which the
 * browser tests read to check that charts grow over time.
 */
"use strict";

const Charts = (() => {
  const HEIGHT = 170, SMALL = 130;

  /* Numbers for people: "–" for none, 3 significant digits, no exponent in plant ranges. */
  function fmt(v) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    const a = Math.abs(v);
    if (a === 0) return "0";
    if (a >= 1000) return Math.round(v).toLocaleString("en");
    if (a >= 100) return v.toFixed(0);
    if (a >= 10) return v.toFixed(1);
    if (a >= 1) return v.toFixed(2);
    if (a >= 0.001) return v.toPrecision(3).replace(/0+$/, "").replace(/\.$/, "");
    return v.toExponential(1);
  }

  /* Energy in the unit its magnitude reads best in: kWh, Wh or mWh. */
  const ENERGY_UNITS = [["kWh", 1], ["Wh", 1e-3], ["mWh", 1e-6]];
  function energyUnit(maxKwh) {
    const found = ENERGY_UNITS.find(([, f]) => (maxKwh || 0) >= f);
    return found || ENERGY_UNITS[ENERGY_UNITS.length - 1];
  }
  function energy(kwh) {
    if (kwh === null || kwh === undefined || !isFinite(kwh)) return "–";
    const [unit, factor] = energyUnit(Math.abs(kwh));
    return `${fmt(kwh / factor)} ${unit}`;
  }

  function clock(sec) {
    return new Date(sec * 1000).toISOString().slice(11, 19);
  }

  function titleOf(el) {
    let title = el.querySelector(":scope > .chart-title");
    if (!title && el.dataset.title) {
      title = document.createElement("div");
      title.className = "chart-title";
      el.prepend(title);
    }
    return title;
  }

  function message(el, text) {
    let box = el.querySelector(":scope > .empty");
    if (!box) {
      box = document.createElement("div");
      box.className = "empty";
      el.appendChild(box);
    }
    box.textContent = text;
    box.hidden = !text;
  }

  /* A small tooltip that follows the cursor: the hovered time and each series' value. */
  function tooltip(describe) {
    let tip;
    return {
      hooks: {
        init: (u) => {
          tip = document.createElement("div");
          tip.className = "chart-tip";
          tip.hidden = true;
          u.over.appendChild(tip);
          u.over.addEventListener("mouseleave", () => { tip.hidden = true; });
        },
        setCursor: (u) => {
          const i = u.cursor.idx;
          if (i === null || i === undefined || u.cursor.left < 0) { tip.hidden = true; return; }
          const lines = describe(u, i);
          if (!lines.length) { tip.hidden = true; return; }
          tip.textContent = "";
          for (const [text, color] of lines) {
            const row = document.createElement("div");
            row.textContent = text;
            if (color) row.style.color = color;
            tip.appendChild(row);
          }
          tip.hidden = false;
          const left = u.cursor.left + 12, room = u.over.clientWidth - tip.offsetWidth - 4;
          tip.style.left = `${Math.max(0, Math.min(left, room))}px`;
          tip.style.top = `${Math.max(0, u.cursor.top - tip.offsetHeight - 8)}px`;
        },
      },
    };
  }

  /* Keep one uPlot per element: rebuild when the series change, else only set the data
   * (keeping a zoom the user dragged until a double click resets it). */
  function draw(el, key, makeOpts, data) {
    const width = Math.max(200, el.clientWidth || 320);
    const height = el.classList.contains("small") ? SMALL : HEIGHT;
    if (el._chart && el._chartKey === key) {
      el._chart.setData(data, !el._zoomed);
      if (Math.abs(el._chart.width - width) > 2) el._chart.setSize({width, height});
      return el._chart;
    }
    if (el._chart) el._chart.destroy();
    const opts = makeOpts(width, height);
    opts.hooks = Object.assign({}, opts.hooks, {
      setSelect: [(u) => { if (u.select.width > 0) el._zoomed = true; }],
    });
    el._chart = new uPlot(opts, data, el);
    el._chartKey = key;
    el._zoomed = false;
    el._chart.over.addEventListener("dblclick", () => { el._zoomed = false; });
    return el._chart;
  }

  function lineChart(el, series, opts = {}) {
    const title = titleOf(el);
    const times = new Set();
    for (const s of series) s.t.forEach((t) => times.add(Date.parse(t) / 1000));
    const xs = [...times].sort((a, b) => a - b);
    const at = new Map(xs.map((x, i) => [x, i]));
    let points = 0, hi = 0;
    const format = opts.format || fmt;
    const columns = [];  // [{name, color, values, provisional, n}]
    for (const s of series) {
      const values = new Array(xs.length).fill(null);
      const prov = new Array(xs.length).fill(null);
      const n = new Array(xs.length).fill(null);
      s.t.forEach((t, i) => {
        const v = s.y[i];
        if (v === null || v === undefined || !isFinite(v)) return;
        const j = at.get(Date.parse(t) / 1000);
        points += 1;
        hi = Math.max(hi, Math.abs(v));
        n[j] = s.n ? s.n[i] : null;
        if (s.provisional && s.provisional[i]) prov[j] = v; else values[j] = v;
      });
      // the provisional point joins its series with a faint dashed segment
      prov.forEach((v, j) => {
        if (v !== null && j > 0 && values[j - 1] !== null && prov[j - 1] === null) {
          prov[j - 1] = values[j - 1];
        }
      });
      columns.push({name: s.name, color: s.color, values, prov, n});
    }
    el.dataset.points = String(points);
    let scale = 1, unit = opts.unit || "";
    if (opts.energy) {
      [unit, scale] = energyUnit(hi);
      scale = 1 / scale;
    }
    if (title) title.textContent = el.dataset.title.replace("{unit}", unit);
    message(el, points ? "" : "waiting for data…");
    const scaled = (arr) => arr.map((v) => (v === null ? null : v * scale));
    const data = [xs];
    const uSeries = [{}];
    for (const c of columns) {
      data.push(scaled(c.values));
      uSeries.push({label: c.name, stroke: c.color, width: 1.6, points: {size: 4, fill: c.color},
                    spanGaps: false});
      if (c.prov.some((v) => v !== null)) {
        data.push(scaled(c.prov));
        uSeries.push({label: `${c.name} (provisional)`, stroke: c.color + "66", width: 1.2,
                      dash: [4, 3], points: {size: 6, fill: "#fff", stroke: c.color + "99"},
                      provisional: true});
      }
    }
    const key = uSeries.map((s) => s.label).join("|") + `|${unit}`;
    const byLabel = new Map(columns.flatMap((c) => [[c.name, c], [`${c.name} (provisional)`, c]]));
    const range = (u, lo, hi2) => {
      const min = opts.min ?? lo, max = opts.max ?? hi2;
      if (opts.min !== undefined && opts.max !== undefined) return [opts.min, opts.max];
      return uPlot.rangeNum(min, max === min ? min + 1 : max, 0.1, true);
    };
    draw(el, key, (width, height) => ({
      width, height,
      legend: {show: false},
      cursor: {drag: {x: true, y: false}, points: {size: 6}},
      scales: {x: {time: true}, y: {range}},
      axes: [
        {size: 28, stroke: "#6b7480", grid: {stroke: "#e3e6ea", width: 1}, ticks: {show: false},
         values: (u, splits) => {
           // seconds only when ticks are less than a minute apart (a short run)
           const step = splits.length > 1 ? splits[1] - splits[0] : 60;
           return splits.map((s) => (step < 60 ? clock(s) : clock(s).slice(0, 5)));
         }},
        {size: 44, stroke: "#6b7480", grid: {stroke: "#e3e6ea", width: 1}, ticks: {show: false},
         values: (u, splits) => splits.map((v) => format(v))},
      ],
      series: uSeries,
      plugins: [tooltip((u, i) => {
        const lines = [[`${clock(u.data[0][i])} UTC`, null]];
        u.series.forEach((s, k) => {
          if (!k || u.data[k][i] === null || u.data[k][i] === undefined) return;
          const c = byLabel.get(s.label);
          const j = c ? c.n[i] : null;
          const extra = s.provisional ? ` · provisional, n=${j ?? "?"}` : (j ? ` · n=${j}` : "");
          lines.push([`${s.label.replace(" (provisional)", "")}: ${format(u.data[k][i])}${unit ? " " + unit : ""}${extra}`, s._stroke || c?.color]);
        });
        return lines;
      })],
    }), data);
  }

  function barChart(el, labels, groups, opts = {}) {
    titleOf(el);
    const count = groups.reduce((acc, g) => acc + g.values.length, 0);
    el.dataset.points = String(count);
    if (!labels.length) { message(el, "no bins"); return; }
    message(el, "");
    const xs = labels.map((_, i) => i);
    // the first group (the reference) wide and light, the others narrower on top of it
    const widths = groups.map((_, gi) => (gi === 0 ? 0.85 : 0.45));
    const data = [xs, ...groups.map((g) => g.values)];
    const key = `bars|${labels.join("|")}|${groups.map((g) => g.name + g.color).join("|")}`;
    draw(el, key, (width, height) => ({
      width, height,
      legend: {show: false},
      cursor: {drag: {x: false, y: false}, points: {show: false}},
      padding: [6, 6, 0, 16],  // room for the first rotated bin label
      scales: {x: {time: false, range: [-0.5, labels.length - 0.5]},
               y: {range: (u, lo, hi) => [0, Math.max(opts.max ?? 0, hi) * 1.1 || 1]}},
      axes: [
        {size: 58, stroke: "#6b7480", grid: {show: false}, ticks: {show: false}, gap: 4,
         font: "10px system-ui, sans-serif", rotate: -30,
         splits: () => xs,
         values: (u, splits) => {
           const room = u.bbox.width / devicePixelRatio;
           const every = Math.max(1, Math.ceil(labels.length * 46 / Math.max(room, 1)));
           return splits.map((i) => (i % every ? "" : labels[i]));
         }},
        {size: 40, stroke: "#6b7480", grid: {stroke: "#e3e6ea", width: 1}, ticks: {show: false},
         values: (u, splits) => splits.map((v) => `${Math.round(v * 100)}%`)},
      ],
      series: [{}, ...groups.map((g, gi) => ({
        label: g.name, fill: g.color, stroke: g.color, width: 0, points: {show: false},
        paths: uPlot.paths.bars({size: [widths[gi], 60], align: 0}),
      }))],
      plugins: [tooltip((u, i) => [[labels[i], null], ...groups.map((g, k) => [
        `${g.name}: ${(100 * (u.data[k + 1][i] || 0)).toFixed(1)}%`, g.color])])],
    }), data);
  }

  window.addEventListener("resize", () => {
    for (const el of document.querySelectorAll(".chart")) {
      if (el._chart) {
        const height = el.classList.contains("small") ? SMALL : HEIGHT;
        el._chart.setSize({width: Math.max(200, el.clientWidth), height});
      }
    }
  });

  return {lineChart, barChart, fmt, energy, energyUnit};
})();
