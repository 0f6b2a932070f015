// Line charts drawn as SVG (no library): axes with ticks and tick labels, axis titles with units, a legend,
// light grid lines and a <title> for screen readers. lineChart({...}) returns an <svg class="chart">.
"use strict";
(function (global) {
  const NS = "http://www.w3.org/2000/svg";
  const H = 260;
  // rough text widths (px at the chart's font sizes), to lay out the title and the legend without measuring
  const textWidth = (s, px) => [...s].reduce((w, ch) => w + (ch.charCodeAt(0) > 0x2e80 ? px : px * 0.55), 0);

  function svgEl(tag, attrs = {}, parent = null) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (parent) parent.appendChild(e);
    return e;
  }

  function niceStep(span, count) {
    const raw = span / Math.max(1, count);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * mag;
  }

  /** Round tick values covering [lo, hi]: {lo, hi, ticks}. */
  function ticks(lo, hi, count = 5, integer = false) {
    if (!isFinite(lo) || !isFinite(hi)) { lo = 0; hi = 1; }
    if (hi === lo) { const d = Math.abs(hi) * 0.1 || 1; lo -= d; hi += d; }
    let step = niceStep(hi - lo, count);
    if (integer) step = Math.max(1, Math.round(step));
    const start = Math.floor(lo / step) * step, end = Math.ceil(hi / step) * step;
    const out = [];
    for (let v = start; v <= end + step / 2; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    return { lo: start, hi: end, ticks: out, step };
  }

  /** A formatter for one axis: the same notation for every tick (exponents for very small or large values). */
  function formatter(t) {
    const top = Math.max(...t.ticks.map(Math.abs));
    const exp10 = v => Math.floor(Math.log10(Math.abs(v)) + 1e-9);
    const mant = t.step / Math.pow(10, exp10(t.step));
    if (top > 0 && (top < 1e-2 || top >= 1e6)) {
      return v => {
        if (v === 0) return "0";
        const d = Math.max(0, Math.min(3, exp10(v) - exp10(t.step) + (mant === 2.5 ? 1 : 0)));
        return v.toExponential(d).replace("e+", "e");
      };
    }
    if (top >= 1e4) return v => `${+(v / 1000).toFixed(Math.max(0, 3 - exp10(t.step) + (mant === 2.5 ? 1 : 0)))}k`;
    const digits = Math.max(0, Math.min(6, -exp10(t.step) + (mant === 2.5 ? 1 : 0)));
    return v => v.toFixed(digits);
  }

  /**
   * opts: {title, xLabel, yLabel, series: [{name, color, points: [[x, y], …], dashed, markers}], yFromZero}
   * Points with a non-finite y are skipped. opts.width: the width in CSS pixels it will be shown at (text then
   * keeps its size); default 560.
   */
  function lineChart(opts) {
    const W = Math.round(Math.max(280, opts.width || 560));
    const entries = opts.series.map(s => ({ s, w: textWidth(s.name, 12) + 34 }));
    const legendW = entries.reduce((a, e) => a + e.w, 0);
    const ownRow = textWidth(opts.title, 14) + legendW + 90 > W;  // no room beside the title: a row of its own
    const M = { l: 66, r: 16, t: ownRow ? 52 : 34, b: 48 };
    const series = opts.series.map(s => ({ ...s, points: s.points.filter(p => isFinite(p[0]) && isFinite(p[1])) }))
      .filter(s => s.points.length);
    const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H + M.t - 34}`, class: "chart", role: "img" });
    svg.setAttribute("aria-label", `${opts.title}: ${opts.yLabel} / ${opts.xLabel}`);
    svgEl("title", {}, svg).textContent = opts.title;
    svgEl("text", { x: ownRow ? 12 : M.l, y: 18, class: "chart-title" }, svg).textContent = opts.title;
    const pw = W - M.l - M.r, ph = H - 34 - M.b;
    const all = series.flatMap(s => s.points);
    const xs = all.map(p => p[0]), ys = all.map(p => p[1]);
    const xt = ticks(all.length ? Math.min(...xs) : 0, all.length ? Math.max(...xs) : 1, 6, true);
    const yt = ticks(opts.yFromZero ? Math.min(0, ...ys) : Math.min(...ys), Math.max(...ys), 5);
    if (!all.length) { xt.lo = 0; xt.hi = 1; }
    const X = x => M.l + pw * (x - xt.lo) / (xt.hi - xt.lo || 1);
    const xf = formatter(xt), yf = formatter(yt);
    const Y = y => M.t + ph - ph * (y - yt.lo) / (yt.hi - yt.lo || 1);

    const grid = svgEl("g", { class: "grid" }, svg);
    const axes = svgEl("g", { class: "axes" }, svg);
    if (all.length) {
      yt.ticks.forEach(v => {
        svgEl("line", { x1: M.l, x2: M.l + pw, y1: Y(v), y2: Y(v) }, grid);
        svgEl("line", { x1: M.l - 5, x2: M.l, y1: Y(v), y2: Y(v) }, axes);
        svgEl("text", { x: M.l - 8, y: Y(v) + 4, "text-anchor": "end", class: "tick y-tick" }, axes).textContent =
          yf(v);
      });
      xt.ticks.forEach(v => {
        svgEl("line", { x1: X(v), x2: X(v), y1: M.t + ph, y2: M.t + ph + 5 }, axes);
        svgEl("text", { x: X(v), y: M.t + ph + 18, "text-anchor": "middle", class: "tick x-tick" }, axes)
          .textContent = xf(v);
      });
    }
    svgEl("line", { x1: M.l, x2: M.l, y1: M.t, y2: M.t + ph }, axes);
    svgEl("line", { x1: M.l, x2: M.l + pw, y1: M.t + ph, y2: M.t + ph }, axes);
    svgEl("text", { x: M.l + pw / 2, y: M.t + ph + M.b - 8, "text-anchor": "middle", class: "axis-label x-label" }, svg)
      .textContent = opts.xLabel;
    svgEl("text", { x: 0, y: 0, "text-anchor": "middle", class: "axis-label y-label",
                    transform: `translate(16 ${M.t + ph / 2}) rotate(-90)` }, svg).textContent = opts.yLabel;
    if (!all.length) {
      svgEl("text", { x: M.l + pw / 2, y: M.t + ph / 2, "text-anchor": "middle", class: "no-data" }, svg)
        .textContent = opts.empty || "no data";
    }

    series.forEach(s => {
      const g = svgEl("g", { class: "series" }, svg);
      g.dataset.name = s.name;
      if (s.points.length > 1) {
        svgEl("polyline", { points: s.points.map(p => `${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(" "),
                            fill: "none", stroke: s.color, "stroke-width": 2,
                            "stroke-dasharray": s.dashed ? "6 4" : "none" }, g);
      }
      if (s.markers || s.points.length === 1) {
        s.points.forEach(p => {
          const c = svgEl("circle", { cx: X(p[0]), cy: Y(p[1]), r: 3.5, fill: s.color }, g);
          svgEl("title", {}, c).textContent = `${s.name}: ${opts.xLabel} ${p[0]}, ${+p[1].toPrecision(4)}`;
        });
      }
    });

    // legend: top right, or on its own row under the title when narrow; one entry per series (those without
    // data marked "(—)")
    const legend = svgEl("g", { class: "legend" }, svg);
    const ly = ownRow ? 38 : 18;
    let x = W - M.r;
    [...entries].reverse().forEach(({ s }) => {
      const has = series.some(q => q.name === s.name);
      const label = has ? s.name : `${s.name} (—)`;
      const t = svgEl("text", { x, y: ly, "text-anchor": "end", class: "legend-label" }, legend);
      t.textContent = label;
      x -= textWidth(label, 12) + 8;
      svgEl("line", { x1: x - 20, x2: x - 2, y1: ly - 4, y2: ly - 4, stroke: s.color, "stroke-width": 2.5,
                      "stroke-dasharray": s.dashed ? "5 3" : "none" }, legend);
      x -= 34;
    });
    return svg;
  }

  global.lineChart = lineChart;
  global.chartTicks = ticks;
})(window);
