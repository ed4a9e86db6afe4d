// chart.js: tiny live charts drawn as inline SVG.

/** Series keeps the last size samples of one number. */
export class Series {
  constructor(size) {
    this.size = size;
    this.values = [];
  }
  push(v) {
    this.values.push(v);
    if (this.values.length > this.size) {
      this.values.shift();
    }
  }
}

/** sparkline returns an empty line chart (<svg>) with label as its
 * accessible name; draw fills it. */
export function sparkline(label) {
  // Cloned from a <template> of index.html, which the HTML parser puts in
  // the SVG namespace, so no namespace URL is needed here.
  const svg = document.getElementById("sparkline-template").content.firstElementChild.cloneNode(true);
  svg.setAttribute("aria-label", label);
  return svg;
}

/** draw redraws the sparkline svg from series: heights scaled from 0 to
 * the largest value, the samples spread over the whole width (so a young
 * series fills the chart, and older samples move left once it is full). */
export function draw(svg, series) {
  const w = 100;
  const h = 40;
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  const max = Math.max(1, ...series.values);
  const step = w / Math.max(series.values.length - 1, 1);
  const points = series.values.map((v, i) => {
    const y = h - 2 - (v / max) * (h - 4);
    return `${(i * step).toFixed(1)},${y.toFixed(1)}`;
  });
  svg.querySelector("polyline").setAttribute("points", points.join(" "));
}
