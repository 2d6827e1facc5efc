// A hand-drawn SVG line chart: energy per time bucket, one line per series.
// Drawn at the container's width (re-drawn on resize) so text stays legible
// on a phone.

import { h, s } from "./dom";

export interface Series {
  name: string;
  /** [bucket start in ms, value], ascending. */
  points: Array<[number, number]>;
}

export const PALETTE = ["#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#0891b2", "#db2777", "#65a30d", "#6b7280"];

function niceStep(max: number, ticks: number): number {
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

function tickLabel(t: number, spanMs: number): string {
  const iso = new Date(t).toISOString();
  if (spanMs <= 2 * 86_400_000) return `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
  return iso.slice(0, 10);
}

function draw(width: number, series: Series[], bucketMs: number, unit: string): SVGSVGElement {
  const height = 260;
  const m = { l: 56, r: 12, t: 12, b: 36 };
  const w = Math.max(120, width - m.l - m.r);
  const ih = height - m.t - m.b;
  const all = series.flatMap((x) => x.points);
  const t0 = Math.min(...all.map((p) => p[0]));
  const t1 = Math.max(...all.map((p) => p[0])) + bucketMs;
  const vmax = Math.max(...all.map((p) => p[1]), 0) || 1;
  const step = niceStep(vmax, 4);
  const ymax = Math.ceil(vmax / step) * step;
  const x = (t: number) => m.l + ((t - t0) / (t1 - t0)) * w;
  const y = (v: number) => m.t + ih - (v / ymax) * ih;
  const svg = s("svg", { class: "chart-svg", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `Energy (${unit}) over time` });
  for (let v = 0; v <= ymax + step / 2; v += step) {
    svg.append(
      s("line", { x1: m.l, x2: m.l + w, y1: y(v), y2: y(v), class: "grid" }),
      s("text", { x: m.l - 6, y: y(v) + 4, "text-anchor": "end", class: "axis" }, Number(v.toPrecision(6)).toString()),
    );
  }
  const ticks = Math.max(2, Math.min(6, Math.floor(w / 110)));
  for (let i = 0; i <= ticks; i++) {
    const t = t0 + ((t1 - t0) * i) / ticks;
    svg.append(s("text", { x: x(t), y: height - 12, "text-anchor": i === 0 ? "start" : i === ticks ? "end" : "middle", class: "axis" }, tickLabel(t, t1 - t0)));
  }
  svg.append(s("text", { x: 4, y: m.t + 2, class: "axis unit", "dominant-baseline": "hanging" }, unit));
  series.forEach((ser, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    const mid = (t: number) => x(t + bucketMs / 2);
    if (ser.points.length > 1) {
      svg.append(s("polyline", { points: ser.points.map(([t, v]) => `${mid(t).toFixed(1)},${y(v).toFixed(1)}`).join(" "), fill: "none", stroke: color, "stroke-width": 2, class: "series-line" }));
    }
    for (const [t, v] of ser.points) {
      svg.append(
        s("circle", { cx: mid(t).toFixed(1), cy: y(v).toFixed(1), r: 3, fill: color, class: "series-dot" },
          s("title", null, `${ser.name}: ${v.toFixed(3)} ${unit} at ${new Date(t).toISOString()}`)),
      );
    }
  });
  return svg;
}

/** A chart element that re-draws itself at its width. */
export function lineChart(series: Series[], bucketMs: number, unit: string): HTMLElement {
  const box = h("div", { class: "chart", "data-series": series.length });
  if (!series.some((x) => x.points.length)) {
    box.append(h("p", { class: "muted" }, "No readings in this window."));
    return box;
  }
  const legend = h(
    "ul",
    { class: "legend" },
    series.map((ser, i) => h("li", null, h("span", { class: `swatch swatch-${i % PALETTE.length}` }), ser.name)),
  );
  const area = h("div", { class: "chart-area" });
  box.append(area, legend);
  let lastWidth = 0;
  const render = () => {
    const width = Math.floor(area.clientWidth || 600);
    if (width === lastWidth) return;
    lastWidth = width;
    area.replaceChildren(draw(width, series, bucketMs, unit));
  };
  new ResizeObserver(render).observe(area);
  queueMicrotask(render);
  return box;
}

/** Small bars, e.g. logs received per minute. */
export function bars(values: number[], label: string): SVGSVGElement {
  const width = 240;
  const height = 48;
  const max = Math.max(1, ...values);
  const bw = width / Math.max(1, values.length);
  return s(
    "svg",
    { class: "bars", viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", role: "img", "aria-label": label },
    values.map((v, i) => s("rect", { x: (i * bw).toFixed(2), y: (height - (v / max) * height).toFixed(2), width: Math.max(1, bw - 1).toFixed(2), height: ((v / max) * height).toFixed(2) })),
  );
}
