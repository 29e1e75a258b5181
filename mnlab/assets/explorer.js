(function () {
"use strict";
var SVG = "http://www.w3.org/2000/svg";
function mk(tag, attrs, parent, text) {
  var e = document.createElementNS(SVG, tag);
  for (var k in attrs) { if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]); }
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}
function compact(v) {
  if (v === 0) return "0";
  var units = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]], a = Math.abs(v), s = "";
  for (var i = 0; i < units.length; i++) { if (a >= units[i][0]) { v = v / units[i][0]; s = units[i][1]; break; } }
  return String(Number(v.toPrecision(3))) + s;
}
function niceStep(span, n) {
  var raw = span / n, p = Math.pow(10, Math.floor(Math.log10(raw))), m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10) * p;
}
function bind(root) {
  if (root.getAttribute("data-mnx-ready")) return;
  var source = root.querySelector("script.mnx-data");
  if (!source) return;
  var d = JSON.parse(source.textContent);
  root.setAttribute("data-mnx-ready", "1");
  var ranges = root.querySelectorAll("input.mnx-range");
  var shown = root.querySelectorAll("output.mnx-value");
  var cells = root.querySelectorAll("td[data-output]");
  var box = root.querySelector(".mnx-svg"), caption = root.querySelector(".mnx-caption");
  var sizes = d.sliders.map(function (s) { return s.values.length; });
  function indices() {
    var idx = [];
    for (var i = 0; i < ranges.length; i++) idx.push(parseInt(ranges[i].value, 10));
    return idx;
  }
  function flat(idx) {
    var f = 0;
    for (var i = 0; i < idx.length; i++) f = f * sizes[i] + idx[i];
    return f;
  }
  function stride(k) {
    var s = 1;
    for (var i = k + 1; i < sizes.length; i++) s *= sizes[i];
    return s;
  }
  function chart(idx) {
    if (!d.chart || !box) return;
    var cx = d.chart.x, out = d.outputs[d.chart.y], sl = d.sliders[cx];
    var W = 330, H = 210, L = 48, R = 12, T = 10, B = 40;
    var xs = sl.values, nx = xs.length, st = stride(cx), total = out.value.length;
    var ys = out.value.filter(function (v) { return v !== null; });
    var ymax = ys.length ? Math.max.apply(null, ys) : 1, ymin = ys.length ? Math.min(0, Math.min.apply(null, ys)) : 0;
    if (ymax <= ymin) ymax = ymin + 1;
    var step = niceStep(ymax - ymin, 4), top = Math.ceil(ymax / step) * step, bottom = Math.floor(ymin / step) * step;
    var x0 = xs[0], x1 = xs[nx - 1];
    function px(v) { return nx === 1 ? (L + W - R) / 2 : L + (v - x0) / (x1 - x0) * (W - L - R); }
    function py(v) { return T + (top - v) / (top - bottom) * (H - T - B); }
    var svg = mk("svg", {viewBox: "0 0 " + W + " " + H, role: "img",
      "aria-label": out.label + " against " + sl.label, "font-size": "12.5", fill: "currentColor"});
    for (var t = bottom; t <= top + step / 2; t += step) {
      mk("line", {x1: L, x2: W - R, y1: py(t), y2: py(t), stroke: "currentColor", "stroke-opacity": t === 0 ? 0.5 : 0.12}, svg);
      mk("text", {x: L - 6, y: py(t) + 4, "text-anchor": "end"}, svg, compact(t));
    }
    var every = Math.max(1, Math.ceil(nx / 8));
    for (var i = 0; i < nx; i++) {
      mk("line", {x1: px(xs[i]), x2: px(xs[i]), y1: H - B, y2: H - B + 4, stroke: "currentColor"}, svg);
      if (i % every === 0 || i === nx - 1) mk("text", {x: px(xs[i]), y: H - B + 17, "text-anchor": "middle"}, svg, sl.text[i]);
    }
    mk("text", {x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle"}, svg, sl.label);
    mk("text", {x: 12, y: (T + H - B) / 2, "text-anchor": "middle", transform: "rotate(-90 12 " + (T + H - B) / 2 + ")"}, svg, out.label);
    function path(base) {
      var pts = [];
      for (var k = 0; k < nx; k++) { var v = out.value[base + k * st]; if (v !== null) pts.push(px(xs[k]).toFixed(1) + "," + py(v).toFixed(1)); }
      return pts.join(" ");
    }
    var f = flat(idx), base = f - idx[cx] * st, lines = total / nx;
    if (lines <= 40) {
      for (var b = 0; b < total; b++) {
        if (Math.floor(b / st) % nx !== 0 || b === base) continue;
        mk("polyline", {points: path(b), fill: "none", stroke: "currentColor", "stroke-opacity": 0.22, "stroke-width": 1.2}, svg);
      }
    }
    mk("polyline", {points: path(base), fill: "none", stroke: "#1f77b4", "stroke-width": 2.2}, svg);
    for (var k = 0; k < nx; k++) {
      var v = out.value[base + k * st];
      if (v !== null) mk("circle", {cx: px(xs[k]), cy: py(v), r: 2.6, fill: "#1f77b4"}, svg);
    }
    var cur = out.value[f];
    if (cur !== null) mk("circle", {"class": "mnx-current", cx: px(xs[idx[cx]]), cy: py(cur), r: 5.5, fill: "#d62728", stroke: "white", "stroke-width": 1.5}, svg);
    while (box.firstChild) box.removeChild(box.firstChild);
    box.appendChild(svg);
    if (caption) {
      var others = [];
      for (var j = 0; j < d.sliders.length; j++) if (j !== cx) others.push(d.sliders[j].label + " " + d.sliders[j].text[idx[j]]);
      caption.textContent = out.label + " against " + sl.label + (others.length ? "; blue: " + others.join(", ") + (lines > 1 && lines <= 40 ? "; grey: the other settings" : "") : "") + "; red: the current point.";
    }
  }
  function update() {
    var idx = indices(), f = flat(idx);
    for (var i = 0; i < ranges.length; i++) {
      var s = d.sliders[i];
      ranges[i].setAttribute("aria-valuetext", s.text[idx[i]]);
      shown[i].textContent = s.text[idx[i]];
      shown[i].setAttribute("data-value", s.raw[idx[i]]);
    }
    for (var c = 0; c < cells.length; c++) {
      var o = d.outputs[c];
      cells[c].textContent = o.text[f];
      cells[c].setAttribute("data-value", o.raw[f]);
    }
    root.setAttribute("data-index", String(f));
    chart(idx);
  }
  for (var i = 0; i < ranges.length; i++) ranges[i].addEventListener("input", update);
  update();
}
var roots = document.querySelectorAll("div.mnlab-explorer");
for (var r = 0; r < roots.length; r++) {
  try { bind(roots[r]); } catch (err) { if (window.console) console.error("mnlab explorer:", err); }
}
})();
