// Timeledger dashboard: draws a stacked bar chart above every `table[data-chart]`, from the
// table's own cells, with uPlot (served by timeledger serve from http/assets/vendor). The tables
// stay the source of the numbers and work without this script.
//
// A chart table has `data-end` (the last day, YYYY-MM-DD, in the page's zone) and `data-days`
// (how many days end there); each body row is: day | series name | hours.
"use strict";

(function () {
  const palette = ["#3b82f6", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#ec4899", "#14b8a6", "#84cc16", "#64748b"];

  /** The `days` dates ending at `end`, as YYYY-MM-DD (calendar days: no zone involved). */
  function window_days(end, days) {
    const [y, m, d] = end.split("-").map(Number);
    const out = [];
    for (let i = days - 1; i >= 0; i--) {
      const t = new Date(Date.UTC(y, m - 1, d - i));
      out.push(t.toISOString().slice(0, 10));
    }
    return out;
  }

  /** Days, series names and each series' hours per day, read from the table. */
  function read(table) {
    const days = window_days(table.dataset.end, Number(table.dataset.days));
    const index = new Map(days.map((d, i) => [d, i]));
    const series = new Map();
    for (const row of table.querySelectorAll("tbody tr")) {
      const cells = row.querySelectorAll("td");
      if (cells.length < 3) continue;
      const day = cells[0].textContent.trim();
      const name = cells[1].textContent;
      const hours = Number(cells[2].textContent);
      if (!index.has(day) || !Number.isFinite(hours)) continue;
      if (!series.has(name)) series.set(name, new Array(days.length).fill(0));
      series.get(name)[index.get(day)] += hours;
    }
    return { days, series };
  }

  function draw(table) {
    const { days, series } = read(table);
    const names = [...series.keys()];
    // Stacked bars: series i is drawn at the sum of series 0..i, the tallest first, so each
    // shorter stack covers the lower part of the one drawn before it.
    const stacked = [];
    let running = new Array(days.length).fill(0);
    for (const name of names) {
      running = running.map((v, i) => v + series.get(name)[i]);
      stacked.push(running);
    }
    const order = names.map((_, i) => i).reverse();
    const x = days.map((_, i) => i);
    const bars = uPlot.paths.bars({ size: [0.7, 40] });
    const holder = document.createElement("div");
    holder.className = "chart";
    holder.setAttribute("role", "img");
    holder.setAttribute("aria-label", `${table.getAttribute("aria-label") || "Hours"} (chart of the table below)`);
    table.before(holder);
    const width = () => Math.max(240, Math.min(holder.clientWidth || 600, 960));
    const opts = {
      width: width(),
      height: 220,
      legend: { show: names.length > 0 },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: false, range: [-0.5, days.length - 0.5] }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
      axes: [
        {
          // At most about eight labels, the last day always among them.
          splits: () => x.filter((i) => (days.length - 1 - i) % Math.ceil(days.length / 8) === 0),
          values: (u, splits) => splits.map((i) => days[i] ? days[i].slice(5) : ""),
        },
        { label: "hours" },
      ],
      series: [
        { label: "day", value: (u, i) => (i == null ? "" : days[i]) },
        ...order.map((i) => ({
          label: names[i],
          fill: palette[i % palette.length],
          stroke: palette[i % palette.length],
          width: 0,
          paths: bars,
          points: { show: false },
          // The legend shows the series' own hours, not the stack's height.
          value: (u, v, s, idx) => (idx == null ? "" : series.get(names[i])[idx].toFixed(2)),
        })),
      ],
    };
    const chart = new uPlot(opts, [x, ...order.map((i) => stacked[i])], holder);
    window.addEventListener("resize", () => chart.setSize({ width: width(), height: 220 }));
    table.dataset.charted = "true";
  }

  function start() {
    if (typeof uPlot === "undefined") return;
    for (const table of document.querySelectorAll("table[data-chart]")) draw(table);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
