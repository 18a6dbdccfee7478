// Small charts as inline SVG, drawn with DOM calls (no inline style: the console's CSP
// allows none). Colours come from console.css through classes.
const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function figure(title, chart, summary) {
  const box = document.createElement("figure");
  box.className = "chart";
  const caption = document.createElement("figcaption");
  caption.textContent = title;
  chart.setAttribute("role", "img");
  chart.setAttribute("aria-label", `${title}: ${summary}`);
  box.append(caption, chart);
  return box;
}

/** Horizontal bars, one per [label, value]. */
export function barChart(title, bars) {
  const width = 300, rowHeight = 22, labelWidth = 96;
  const max = Math.max(1, ...bars.map(([, v]) => v));
  const chart = svg("svg", { viewBox: `0 0 ${width} ${bars.length * rowHeight + 4}`, class: "bars" });
  bars.forEach(([label, value], i) => {
    const y = i * rowHeight + 2;
    const w = Math.max(value ? 2 : 0, ((width - labelWidth - 48) * value) / max);
    chart.append(
      svg("text", { x: 0, y: y + 15, class: "label" }, label),
      svg("rect", { x: labelWidth, y: y + 3, width: w, height: rowHeight - 8, class: `bar bar-${i}` }),
      svg("text", { x: labelWidth + w + 6, y: y + 15, class: "value" }, String(value)),
    );
  });
  return figure(title, chart, bars.map(([l, v]) => `${l} ${v}`).join(", "));
}

/** Lines over time: `times` (ms) and [name, values] series of the same length. */
export function lineChart(title, times, series) {
  const width = 300, height = 120, pad = 24;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height + 20}`, class: "lines" });
  const all = series.flatMap(([, values]) => values);
  const [lo, hi] = [Math.min(0, ...all), Math.max(1, ...all)];
  const [t0, t1] = [times[0], times.at(-1)];
  const x = (t) => pad + (t1 > t0 ? ((t - t0) * (width - 2 * pad)) / (t1 - t0) : 0);
  const y = (v) => height - ((v - lo) * (height - pad)) / (hi - lo);
  chart.append(svg("line", { x1: pad, y1: height, x2: width - pad, y2: height, class: "axis" }));
  series.forEach(([name, values], i) => {
    const points = values.map((v, j) => `${x(times[j]).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    chart.append(
      svg("polyline", { points, class: `line line-${i}` }),
      svg("text", { x: pad + i * 110, y: height + 16, class: `legend legend-${i}` }, `${name} ${values.at(-1) ?? 0}`),
    );
  });
  const summary = times.length < 2 ? "one sample so far" : `${times.length} samples`;
  return figure(title, chart, `${summary}; ${series.map(([n, v]) => `${n} ${v.at(-1) ?? 0}`).join(", ")}`);
}
