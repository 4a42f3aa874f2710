// Live plots: a History keeps the samples of the last few minutes, and
// renderPlot draws them as an SVG line chart (no library). The figure
// carries each series' latest value in data-latest-KEY and its number of
// samples in data-points, for people who read the DOM and for the browser
// tests.

import { h, fmtRate, fmtInt } from "./dom.js";

// windowMs is how far back the plots go.
export const windowMs = 5 * 60 * 1000;

// History is a series of samples {t: ms, v: {key: number|null}}.
export class History {
  constructor() {
    this.points = [];
  }

  push(t, values) {
    this.points.push({ t, v: values });
    const since = t - windowMs;
    while (this.points.length && this.points[0].t < since) this.points.shift();
  }

  // latest is the newest non-null value of key, null if none.
  latest(key) {
    for (let i = this.points.length - 1; i >= 0; i--) {
      const v = this.points[i].v[key];
      if (v !== null && v !== undefined) return v;
    }
    return null;
  }
}

const W = 600, H = 170, L = 48, R = 8, T = 10, B = 22;

// niceMax rounds v up to 1, 2 or 5 times a power of ten (at least 1).
function niceMax(v) {
  if (!(v > 1)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

// renderPlot draws history's series into fig (a <figure>), replacing its
// content. series: [{key, label, integer}] (integer: a count, not a
// rate); now: the right edge, in ms.
export function renderPlot(fig, title, history, series, now) {
  let max = 0;
  for (const p of history.points) for (const s of series) max = Math.max(max, p.v[s.key] || 0);
  max = niceMax(max * 1.1);
  const x = (t) => L + ((t - (now - windowMs)) / windowMs) * (W - L - R);
  const y = (v) => T + (1 - v / max) * (H - T - B);
  const svg = h("svg:svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title });
  for (const f of [0, 0.5, 1]) {
    const v = max * f;
    svg.append(
      h("svg:line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }),
      h("svg:text", { x: L - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" }, Number.isInteger(v) ? String(v) : v.toFixed(1)),
    );
  }
  svg.append(
    h("svg:text", { x: L, y: H - 6, class: "axis" }, "5 min ago"),
    h("svg:text", { x: W - R, y: H - 6, class: "axis", "text-anchor": "end" }, "now"),
  );
  series.forEach((s, i) => {
    let run = [];
    const flush = () => {
      if (run.length > 1) svg.append(h("svg:polyline", { points: run.join(" "), class: `line s${i}` }));
      if (run.length === 1) {
        const [cx, cy] = run[0].split(",");
        svg.append(h("svg:circle", { cx, cy, r: 2, class: `dot s${i}` }));
      }
      run = [];
    };
    for (const p of history.points) {
      const v = p.v[s.key];
      if (v === null || v === undefined) flush();
      else run.push(`${x(p.t).toFixed(1)},${y(v).toFixed(1)}`);
    }
    flush();
  });
  const legend = h("figcaption", null, h("span", { class: "plot-title" }, title),
    series.map((s, i) => {
      const v = history.latest(s.key);
      fig.setAttribute(`data-latest-${s.key}`, v === null ? "" : String(v));
      return h("span", { class: `key s${i}` }, `${s.label} ${s.integer ? fmtInt(v) : fmtRate(v)}`);
    }));
  fig.setAttribute("data-points", String(history.points.length));
  fig.replaceChildren(legend, svg);
}

// sparkline is a small line of history's key, for a table cell.
export function sparkline(history, key, now) {
  const w = 120, ht = 24;
  let max = 0;
  for (const p of history.points) max = Math.max(max, p.v[key] || 0);
  max = niceMax(max);
  const pts = history.points
    .filter((p) => p.v[key] !== null && p.v[key] !== undefined)
    .map((p) => `${(((p.t - (now - windowMs)) / windowMs) * w).toFixed(1)},${(ht - 2 - (p.v[key] / max) * (ht - 4)).toFixed(1)}`);
  const svg = h("svg:svg", { viewBox: `0 0 ${w} ${ht}`, class: "spark", "aria-hidden": "true" });
  if (pts.length > 1) svg.append(h("svg:polyline", { points: pts.join(" "), class: "line s0" }));
  return svg;
}
