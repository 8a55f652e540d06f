/* mangodb charts: thin helpers over uPlot (vendor/uplot), shared by the server's pages and the
   self-contained report. Data never becomes markup: labels go through textContent only. */
"use strict";

window.MangoCharts = (function () {
  const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2",
                   "#be185d", "#4d7c0f", "#7c3aed", "#b45309", "#0f766e", "#64748b"];

  function colour(i) { return PALETTE[i % PALETTE.length]; }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function fmt(v) {
    if (v === null || v === undefined) return "";
    if (typeof v !== "number") return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(3);
    return Number(v.toPrecision(5)).toString();
  }

  /* Align several (steps, values) series on one x axis, as uPlot wants. */
  function align(series) {
    if (series.length === 1) return [series[0].steps, series[0].values];
    const tables = series.map(s => [s.steps, s.values]);
    return uPlot.join(tables);
  }

  /* Vertical marks where a value was NaN or ±Inf: a downsample must not hide them. */
  function markNonFinite(marks) {
    return function (u) {
      if (!marks.length) return;
      const ctx = u.ctx, top = u.bbox.top, height = u.bbox.height;
      const xmin = u.scales.x.min, xmax = u.scales.x.max;
      ctx.save();
      ctx.strokeStyle = "rgba(220, 38, 38, 0.55)";
      ctx.lineWidth = Math.max(1, devicePixelRatio);
      ctx.setLineDash([4, 3]);
      for (const [step] of marks) {
        if (step < xmin || step > xmax) continue;
        const x = Math.round(u.valToPos(step, "x", true));
        ctx.beginPath();
        ctx.moveTo(x, top);
        ctx.lineTo(x, top + height);
        ctx.stroke();
      }
      ctx.restore();
    };
  }

  /* A band's two edge series are drawing aids: no legend row for them. */
  function hideBandLegends(plot, seriesOpts) {
    const rows = plot.root.querySelectorAll(".u-legend .u-series");
    seriesOpts.forEach((s, i) => {
      if (s.bandEdge && rows[i]) rows[i].style.display = "none";
    });
  }

  /* Keep a chart as wide as its box (the grid re-flows as charts are added and on resize). */
  function fitWidth(plot, holder, height) {
    if (!window.ResizeObserver) return;
    let last = 0;
    new ResizeObserver(() => {
      const w = Math.max(240, Math.floor(holder.clientWidth));
      if (w !== last) { last = w; plot.setSize({ width: w, height: height }); }
    }).observe(holder);
  }

  /* A line chart in `container`.
     spec: {title, series: [{label, steps, values, nonfinite?, band?: {lo, hi}}],
            onZoom(min, max) -> Promise<series> | null, onReset() -> Promise<series> | null,
            height, xLabel} */
  function lineChart(container, spec) {
    const card = el("figure", "chart");
    const caption = el("figcaption", "chart-title", spec.title);
    const status = el("span", "chart-status");
    caption.appendChild(status);
    card.appendChild(caption);
    const holder = el("div", "chart-plot");
    card.appendChild(holder);
    container.appendChild(card);

    let marks = [];
    const width = Math.max(240, holder.clientWidth || container.clientWidth || 600);
    const build = (list) => {
      marks = [];
      list.forEach(s => { (s.nonfinite || []).forEach(m => marks.push(m)); });
      const seriesOpts = [{ label: spec.xLabel || "step" }];
      const bands = [];
      const columns = [];
      list.forEach((s, i) => {
        const c = s.colour || colour(i);
        seriesOpts.push({ label: s.label, stroke: c, width: 1.5, spanGaps: false,
                          points: { show: false }, value: (u, v) => fmt(v) });
        columns.push({ steps: s.steps, values: s.values });
        if (s.band) {
          const lo = seriesOpts.length, hi = lo + 1;
          seriesOpts.push({ label: s.label + " −std", stroke: "transparent", bandEdge: true,
                            points: { show: false } });
          seriesOpts.push({ label: s.label + " +std", stroke: "transparent", bandEdge: true,
                            points: { show: false } });
          columns.push({ steps: s.steps, values: s.band.lo });
          columns.push({ steps: s.steps, values: s.band.hi });
          bands.push({ series: [hi, lo], fill: c + "26" });
        }
      });
      return { seriesOpts, bands, data: align(columns) };
    };

    let current = build(spec.series);
    let zoomed = false;
    const opts = {
      width: width,
      height: spec.height || 220,
      series: current.seriesOpts,
      bands: current.bands,
      legend: { show: spec.series.length > 1 || !!spec.legend },
      cursor: { drag: { x: true, y: false, setScale: !spec.onZoom } },
      scales: { x: { time: false } },
      axes: [
        { stroke: "#475569", grid: { stroke: "#e2e8f0" }, ticks: { stroke: "#cbd5e1" } },
        { stroke: "#475569", grid: { stroke: "#e2e8f0" }, ticks: { stroke: "#cbd5e1" },
          size: 60, values: (u, vals) => vals.map(fmt) },
      ],
      hooks: {
        draw: [u => markNonFinite(marks)(u)],
        setSelect: [u => {
          if (!spec.onZoom || u.select.width < 4) return;
          const min = Math.floor(u.posToVal(u.select.left, "x"));
          const max = Math.ceil(u.posToVal(u.select.left + u.select.width, "x"));
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          replace(spec.onZoom(min, max, holder.clientWidth || width), true);
        }],
      },
    };
    const plot = new uPlot(opts, current.data, holder);
    hideBandLegends(plot, current.seriesOpts);
    card.dataset.drawn = "1";

    function replace(promise, isZoom) {
      if (!promise) return;
      status.textContent = " loading…";
      card.dataset.loading = "1";
      promise.then(list => {
        const next = build(list);
        plot.setData(next.data, true);
        zoomed = isZoom;
        status.textContent = isZoom ? " zoomed (double-click to reset)" : "";
        card.dataset.loading = "";
        card.dataset.redraws = String(Number(card.dataset.redraws || 0) + 1);
      }).catch(err => {
        status.textContent = " " + String(err && err.message ? err.message : err);
        card.dataset.loading = "";
      });
    }

    plot.over.addEventListener("dblclick", () => {
      if (spec.onReset && zoomed) replace(spec.onReset(holder.clientWidth || width), false);
    });
    fitWidth(plot, holder, opts.height);
    return plot;
  }

  /* Points per method (strip plot): one column per method, jittered dots, mean marked. */
  function stripChart(container, spec) {
    const card = el("figure", "chart");
    card.appendChild(el("figcaption", "chart-title", spec.title));
    const holder = el("div", "chart-plot");
    card.appendChild(holder);
    container.appendChild(card);
    const groups = spec.groups;  // [{label, values}]
    const xs = [], ys = [];
    groups.forEach((g, i) => {
      g.values.forEach((v, j) => {
        xs.push(i + 0.5 + ((j * 0.618034) % 1 - 0.5) * 0.5);
        ys.push(v);
      });
    });
    const order = xs.map((x, i) => i).sort((a, b) => xs[a] - xs[b]);
    const data = [order.map(i => xs[i]), order.map(i => ys[i])];
    const width = Math.max(240, holder.clientWidth || 400);
    const opts = {
      width: width, height: spec.height || 220,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: false, range: [0, groups.length] } },
      series: [{}, { stroke: "transparent", paths: () => null,
                     points: { show: true, size: 7, fill: colour(0) + "aa", stroke: colour(0) } }],
      axes: [
        { splits: () => groups.map((g, i) => i + 0.5), values: () => groups.map(g => g.label),
          grid: { show: false }, stroke: "#475569" },
        { stroke: "#475569", grid: { stroke: "#e2e8f0" }, size: 60, values: (u, v) => v.map(fmt) },
      ],
      hooks: { draw: [u => {
        const ctx = u.ctx;
        ctx.save();
        ctx.strokeStyle = "#0f172a";
        ctx.lineWidth = 2 * devicePixelRatio;
        groups.forEach((g, i) => {
          const vals = g.values.filter(v => v !== null && isFinite(v));
          if (!vals.length) return;
          const mean = vals.reduce((a, b) => a + b, 0) / vals.length;
          const x0 = u.valToPos(i + 0.2, "x", true), x1 = u.valToPos(i + 0.8, "x", true);
          const y = u.valToPos(mean, "y", true);
          ctx.beginPath(); ctx.moveTo(x0, y); ctx.lineTo(x1, y); ctx.stroke();
        });
        ctx.restore();
      }] },
    };
    const plot = new uPlot(opts, data, holder);
    fitWidth(plot, holder, opts.height);
    card.dataset.drawn = "1";
    return plot;
  }

  /* Two objectives against each other, one point per method, the Pareto front joined. */
  function scatterChart(container, spec) {
    const card = el("figure", "chart");
    card.appendChild(el("figcaption", "chart-title", spec.title));
    const holder = el("div", "chart-plot");
    card.appendChild(holder);
    const labels = el("ul", "scatter-labels");
    card.appendChild(labels);
    container.appendChild(card);
    const pts = spec.points.filter(p => p.x !== null && p.y !== null)
      .sort((a, b) => a.x - b.x);
    const front = pts.filter(p => p.front);
    const data = [pts.map(p => p.x), pts.map(p => p.y), pts.map(p => (p.front ? p.y : null))];
    pts.forEach((p, i) => {
      const item = el("li", p.front ? "front" : "", p.label + " (" + fmt(p.x) + ", " + fmt(p.y) + ")");
      item.style.borderLeftColor = colour(i);
      labels.appendChild(item);
    });
    const width = Math.max(240, holder.clientWidth || 400);
    const plot = new uPlot({
      width: width, height: spec.height || 260,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: false } },
      series: [{}, { stroke: "transparent", paths: () => null,
                     points: { show: true, size: 9, fill: "#64748baa", stroke: "#334155" } },
               { stroke: "#dc2626", width: 2, spanGaps: true,
                 points: { show: true, size: 10, fill: "#dc2626", stroke: "#7f1d1d" } }],
      axes: [
        { label: spec.xLabel, stroke: "#475569", grid: { stroke: "#e2e8f0" }, values: (u, v) => v.map(fmt) },
        { label: spec.yLabel, stroke: "#475569", grid: { stroke: "#e2e8f0" }, size: 60, values: (u, v) => v.map(fmt) },
      ],
      hooks: { draw: [u => {
        const ctx = u.ctx;
        ctx.save();
        ctx.fillStyle = "#0f172a";
        ctx.font = (11 * devicePixelRatio) + "px sans-serif";
        pts.forEach(p => {
          ctx.fillText(p.label, u.valToPos(p.x, "x", true) + 6 * devicePixelRatio,
                       u.valToPos(p.y, "y", true) - 6 * devicePixelRatio);
        });
        ctx.restore();
      }] },
    }, data, holder);
    fitWidth(plot, holder, spec.height || 260);
    card.dataset.drawn = "1";
    card.dataset.front = String(front.length);
    return plot;
  }

  return { lineChart, stripChart, scatterChart, el, fmt, colour };
})();
