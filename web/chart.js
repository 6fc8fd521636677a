// SPDX-License-Identifier: MIT
// The teacher page's engagement chart, drawn on a canvas by the page itself: two lines over
// the session's time, 0..100 %. No charting library: the chart is small, and a page that
// ships only its own code has nothing to audit or update and stays under its CSP.
//  - a solid line: the share of online students engaged at that moment;
//  - a dashed line: the class's average engagement percentage so far.
// Colour is not the only cue: the lines differ in dash, and the legend names them.

const ENGAGED_NOW = { colour: "#0b6b1e", dash: [] };
const AVERAGE = { colour: "#1a56c4", dash: [6, 4] };

// points: [{t (ms), engagedNow, average}], oldest first; startMs: the session's start
// (the x axis starts there), or null to start at the first point.
export function drawChart(canvas, points, startMs) {
  const ratio = window.devicePixelRatio || 1;
  const cssW = canvas.clientWidth || canvas.width;
  const cssH = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(cssW * ratio)) canvas.width = Math.round(cssW * ratio);
  if (canvas.height !== Math.round(cssH * ratio)) canvas.height = Math.round(cssH * ratio);
  const g = canvas.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, cssW, cssH);
  g.font = "12px system-ui, sans-serif";

  const left = 40;
  const right = cssW - 10;
  const top = 24;
  const bottom = cssH - 24;
  const t0 = startMs ?? (points.length ? points[0].t : Date.now());
  const t1 = Math.max(t0 + 60000, points.length ? points[points.length - 1].t : t0);
  const x = (t) => left + ((t - t0) / (t1 - t0)) * (right - left);
  const y = (v) => bottom - (Math.max(0, Math.min(100, v)) / 100) * (bottom - top);

  // The grid and the axes' labels.
  g.strokeStyle = "#ddd";
  g.fillStyle = "#555";
  g.lineWidth = 1;
  g.setLineDash([]);
  g.textAlign = "right";
  g.textBaseline = "middle";
  for (const v of [0, 25, 50, 75, 100]) {
    g.beginPath();
    g.moveTo(left, y(v));
    g.lineTo(right, y(v));
    g.stroke();
    g.fillText(`${v} %`, left - 4, y(v));
  }
  g.textAlign = "center";
  g.textBaseline = "top";
  const spanMin = (t1 - t0) / 60000;
  const step = [1, 2, 5, 10, 15, 30, 60].find((m) => spanMin / m <= 8) || 120;
  for (let m = 0; m <= spanMin; m += step) {
    const label = `${m} min`;
    const half = g.measureText(label).width / 2;
    g.fillText(label, Math.min(right - half, Math.max(left + half, x(t0 + m * 60000))), bottom + 4);
  }

  // The legend.
  g.textAlign = "left";
  g.textBaseline = "middle";
  let lx = left;
  for (const [series, label] of [[ENGAGED_NOW, "engaged now"], [AVERAGE, "average engagement"]]) {
    g.strokeStyle = series.colour;
    g.setLineDash(series.dash);
    g.lineWidth = 2;
    g.beginPath();
    g.moveTo(lx, 10);
    g.lineTo(lx + 24, 10);
    g.stroke();
    g.fillStyle = "#1b1b1b";
    g.fillText(label, lx + 30, 10);
    lx += 40 + g.measureText(label).width;
  }

  // The lines.
  for (const [series, key] of [[ENGAGED_NOW, "engagedNow"], [AVERAGE, "average"]]) {
    if (points.length === 0) break;
    g.strokeStyle = series.colour;
    g.setLineDash(series.dash);
    g.lineWidth = 2;
    g.beginPath();
    points.forEach((p, i) => (i ? g.lineTo(x(p.t), y(p[key])) : g.moveTo(x(p.t), y(p[key]))));
    g.stroke();
  }
  g.setLineDash([]);
}
