/* Behaviour of each page (body[data-page]). The server renders the tables; this adds the
   charts and the interactions. Text from the database only ever goes into textContent. */
"use strict";

(function () {
  const C = window.MangoCharts;
  const page = document.body.dataset.page;

  function pageData(id) {
    const node = document.getElementById(id || "page-data");
    return node ? JSON.parse(node.textContent) : null;
  }

  function query(params) {
    const search = new URLSearchParams();
    Object.entries(params).forEach(([k, v]) => {
      if (v === null || v === undefined || v === "") return;
      (Array.isArray(v) ? v : [v]).forEach(item => search.append(k, String(item)));
    });
    return search.toString();
  }

  async function getJSON(path, params) {
    const response = await fetch(path + "?" + query(params), { credentials: "same-origin" });
    const body = await response.json();
    if (!response.ok) throw new Error(body.message || response.statusText);
    return body;
  }

  function pointsFor(width) { return Math.min(10000, Math.max(200, Math.round(width * 2))); }

  function asSeries(series, label) {
    return { label: label || series.key, steps: series.steps, values: series.values,
             nonfinite: series.nonfinite };
  }

  /* A history chart of one run: `keys` drawn together; zoom refetches the step range. */
  function historyChart(container, runId, keys, initial) {
    const fetchRange = (min, max, width) => getJSON("/api/history", {
      run: runId, key: keys, min_step: min, max_step: max, max_points: pointsFor(width),
    }).then(body => keys.filter(k => body.series[k]).map(k => asSeries(body.series[k])));
    return C.lineChart(container, {
      title: keys.join(", "),
      series: keys.filter(k => initial.series[k]).map(k => asSeries(initial.series[k])),
      legend: keys.length > 1,
      onZoom: (min, max, width) => fetchRange(min, max, width),
      onReset: width => fetchRange(null, null, width),
    });
  }

  // -- runs: selection leads to a comparison of exactly those runs ---------------------------
  function runsPage() {
    const button = document.getElementById("compare-selected");
    const count = document.getElementById("selected-count");
    if (!button) return;
    const update = () => {
      const n = document.querySelectorAll("input[name=run]:checked").length;
      button.disabled = n < 1;
      count.textContent = n ? n + " selected" : "";
    };
    document.querySelectorAll("input[name=run]").forEach(box => box.addEventListener("change", update));
    update();
  }

  // -- run: config filter and history charts -------------------------------------------------
  function configSearch() {
    const input = document.getElementById("config-search");
    if (!input) return;
    input.addEventListener("input", () => {
      const needle = input.value.trim().toLowerCase();
      document.querySelectorAll("#config-tree li").forEach(li => {
        const hit = !needle || li.dataset.path.toLowerCase().includes(needle) ||
          li.textContent.toLowerCase().includes(needle);
        li.style.display = hit ? "" : "none";
        if (hit && needle) li.querySelectorAll(":scope > details").forEach(d => { d.open = true; });
      });
    });
  }

  async function runPage() {
    configSearch();
    const data = pageData();
    const container = document.getElementById("charts");
    if (!data || !container || !data.keys.length) return;
    const draw = async (groups) => {
      container.textContent = "";
      const width = container.clientWidth / (groups.length > 1 ? 2 : 1);
      const keys = groups.flat();
      const initial = await getJSON("/api/history", { run: data.run_id, key: keys,
                                                       max_points: pointsFor(width) });
      groups.forEach(group => historyChart(container, data.run_id, group, initial));
      container.dataset.ready = "1";
    };
    const separate = () => draw(data.keys.slice(0, 24).map(k => [k]));
    document.getElementById("overlay-keys").addEventListener("click", () => {
      const picked = [...document.querySelectorAll(".key-pick:checked")].map(b => b.value);
      if (picked.length) draw([picked]);
    });
    document.getElementById("separate-keys").addEventListener("click", separate);
    try { await separate(); } catch (err) {
      container.appendChild(C.el("p", "query-error", String(err.message || err)));
    }
  }

  // -- compare: curves per method / per run, strips per objective, Pareto scatter --------------
  function drawCurves(container, curves) {
    curves.forEach(group => {
      C.lineChart(container, {
        title: group.title,
        legend: true,
        series: group.series.map((s, i) => ({
          label: s.label, steps: s.steps, values: s.values, colour: C.colour(i),
          band: s.lo ? { lo: s.lo, hi: s.hi } : null,
        })),
      });
    });
  }

  function comparePage(data) {
    if (!data) return;
    const curves = document.getElementById("curves");
    if (curves && data.curves) drawCurves(curves, data.curves);
    const strips = document.getElementById("strips");
    if (strips && data.strips) {
      data.strips.forEach(s => C.stripChart(strips, { title: s.title, groups: s.groups }));
    }
    const scatter = document.getElementById("scatter");
    if (scatter && data.scatter) C.scatterChart(scatter, data.scatter);
    document.querySelectorAll(".charts").forEach(c => { c.dataset.ready = "1"; });
  }

  if (page === "runs") runsPage();
  if (page === "run") runPage();
  if (page === "compare" || page === "report") comparePage(pageData());
})();
