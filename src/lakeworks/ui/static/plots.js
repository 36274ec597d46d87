/*
 * LakeworksPlots: the pages' declarative charts, drawn with the vendored uPlot
 * (static/vendor/uplot; load uPlot.iife.min.js and uPlot.min.css before this file).
 *
 * An element with data-chart="line|scatter|bar" holding a <script type="application/json">
 * child with the options is drawn on load:
 *
 *   <div data-chart="line">
 *     <script type="application/json">{"series": [{"name": "requests", "points": [[1700000000000, 3]]}],
 *                                      "xTime": true, "yLabel": "requests / min"}</script>
 *   </div>
 *
 * line / scatter options:
 *   series:  [{name, points: [[x, y], ...], color (optional), dots: true|false (optional),
 *              dashed: true|false (optional)}, ...]; y null is a gap in the line.
 *   xTime:   x is epoch milliseconds (local time on the axis); xLabel, yLabel: axis titles
 *   yMin, yMax: a fixed y range; otherwise from the data, from 0 when every y >= 0 unless
 *            yZero is false
 *   empty:   the text shown when there is no point; legend: true/false (default: 2+ series)
 * bar options:
 *   categories: ["run 1", ...]; series: [{name, values: [0.4, ...], color}, ...] (grouped)
 *   yLabel, empty, legend: as above
 *
 * The element gets __lakeworksChart = {plot, update(options), destroy()}: ``plot`` is the
 * uPlot (its ``data`` and ``series`` say what was drawn); update re-draws with new options.
 * LakeworksPlots.scan(root) draws the elements under root (done for the document on load).
 */
(function (global) {
  "use strict";

  var PALETTE = ["#1668c4", "#d9730d", "#1d7a46", "#c0352b", "#7b4bc4", "#0f8a8a",
                 "#b8860b", "#5b6b7f", "#d6336c", "#2f9e44"];

  function isNum(v) {
    return typeof v === "number" && isFinite(v);
  }

  function formatNumber(v) {
    if (!isNum(v)) return v === null || v === undefined ? "" : String(v);
    var a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
    if (a >= 1000) return v.toLocaleString(undefined, {maximumFractionDigits: 0});
    if (Number.isInteger(v)) return String(v);
    return String(Math.round(v * 1000) / 1000);
  }

  function pad2(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function formatTime(ms) {
    var d = new Date(ms);
    return d.getFullYear() + "-" + pad2(d.getMonth() + 1) + "-" + pad2(d.getDate()) + " " +
      pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + ":" + pad2(d.getSeconds());
  }

  function colorOf(series, i) {
    return series.color || PALETTE[i % PALETTE.length];
  }

  // The y range: fixed ends where given, 0 included for non-negative data unless yZero is
  // false, and a little room when every value is the same.
  function yRange(options) {
    return function (u, min, max) {
      var lo = isNum(options.yMin) ? options.yMin : min;
      var hi = isNum(options.yMax) ? options.yMax : max;
      if (!isNum(options.yMin) && lo >= 0 && options.yZero !== false) lo = 0;
      if (lo === hi) {
        var pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
        if (!isNum(options.yMin)) lo -= pad;
        if (!isNum(options.yMax)) hi += pad;
      }
      return [lo, hi];
    };
  }

  function legendShown(options, count) {
    return options.legend === false ? false : (count > 1 || options.legend === true);
  }

  // Line and scatter: each series has its own x values; uPlot wants one x array, so they are
  // joined (a missing value is skipped, so lines run on; an explicit null stays a gap).
  function xyPlot(kind, options, width) {
    var series = (options.series || []).map(function (s) {
      var points = (s.points || []).filter(function (p) { return p && isNum(Number(p[0])); })
        .map(function (p) { return [Number(p[0]), p[1] === null || p[1] === undefined ? null : Number(p[1])]; })
        .sort(function (a, b) { return a[0] - b[0]; });
      return {name: String(s.name == null ? "" : s.name), color: s.color, dots: s.dots,
              dashed: s.dashed, points: points};
    });
    var count = series.reduce(function (n, s) {
      return n + s.points.filter(function (p) { return isNum(p[1]); }).length;
    }, 0);
    if (!count) return null;
    var tables = series.map(function (s) {
      return [s.points.map(function (p) { return p[0]; }), s.points.map(function (p) { return p[1]; })];
    });
    var data = uPlot.join(tables, tables.map(function () { return [1]; }));
    var xFormat = options.xTime ? formatTime : formatNumber;
    var plotSeries = [{label: options.xLabel || (options.xTime ? "time" : "x"),
                       value: function (u, v) { return v === null ? "" : xFormat(v); }}];
    series.forEach(function (s, i) {
      var color = colorOf(s, i);
      var numeric = s.points.filter(function (p) { return isNum(p[1]); }).length;
      var dots = kind === "scatter" || s.dots === true || (s.dots !== false && numeric <= 60);
      plotSeries.push({
        label: s.name,
        stroke: color,
        width: kind === "scatter" ? 0 : 2,
        dash: s.dashed ? [5, 4] : undefined,
        spanGaps: false,
        paths: kind === "scatter" ? function () { return null; } : undefined,
        // A lone point draws no line: it is always shown as a dot.
        points: {show: dots || numeric === 1, size: kind === "scatter" ? 7 : 5, fill: color,
                 stroke: color},
        value: function (u, v) { return formatNumber(v); }
      });
    });
    var opts = {
      width: width,
      height: options.height || 240,
      ms: 1,  // x is epoch milliseconds when xTime is set
      legend: {show: legendShown(options, series.length)},
      cursor: {points: {size: 6}},
      scales: {x: {time: !!options.xTime}, y: {range: yRange(options)}},
      axes: [
        // Room for a time label ("12:40pm") between ticks, so labels never overlap.
        {label: options.xLabel, stroke: "#6b7685", grid: {stroke: "#eef1f4"},
         space: options.xTime ? 90 : 60},
        {label: options.yLabel, stroke: "#6b7685", grid: {stroke: "#dfe4ea"}, size: 56,
         values: function (u, vals) { return vals.map(formatNumber); }}
      ],
      series: plotSeries
    };
    return {opts: opts, data: data};
  }

  // A bar's width in x units: the group takes 3/4 of a category, a bar at most 80 pixels.
  function barSize(u, many) {
    var pixels80 = Math.abs(u.posToVal(80, "x") - u.posToVal(0, "x"));
    return Math.min(0.75 / many, pixels80);
  }

  // Grouped bars: one group per category, one bar per series.
  function barPlot(options, width) {
    var categories = (options.categories || []).map(String);
    var series = (options.series || []).map(function (s) {
      return {name: String(s.name == null ? "" : s.name), color: s.color,
              values: categories.map(function (c, i) {
                var v = (s.values || [])[i];
                return v === null || v === undefined || !isNum(Number(v)) ? null : Number(v);
              })};
    });
    var count = series.reduce(function (n, s) { return n + s.values.filter(isNum).length; }, 0);
    if (!count || !categories.length) return null;
    var xs = categories.map(function (c, i) { return i; });
    var many = series.length;
    var plotSeries = [{label: options.xLabel || "run",
                       value: function (u, v) { return v === null ? "" : (categories[v] || ""); }}];
    series.forEach(function (s, n) {
      var color = colorOf(s, n);
      plotSeries.push({
        label: s.name, stroke: color, fill: color + "cc", width: 0,
        points: {show: false},
        // Side by side, centred on the category: bar n starts n bar widths into the group
        // (x0 is the left edge and size the width, both in x units: category indices).
        paths: uPlot.paths.bars({disp: {
          x0: {unit: 1, values: function (u, sidx) {
            var size = barSize(u, many);
            return u.data[0].map(function (x) { return x - size * many / 2 + (sidx - 1) * size; });
          }},
          size: {unit: 1, values: function (u) { return [barSize(u, many)]; }}
        }}),
        value: function (u, v) { return formatNumber(v); }
      });
    });
    var longest = Math.max.apply(null, categories.map(function (c) { return c.length; }));
    var opts = {
      width: width,
      height: options.height || 240,
      legend: {show: legendShown(options, many)},
      scales: {
        x: {time: false, range: function () { return [-0.5, categories.length - 0.5]; }},
        y: {range: function (u, min, max) { return [Math.min(0, min), max > 0 ? max * 1.05 : 1]; }}
      },
      axes: [
        {stroke: "#6b7685", grid: {show: false}, splits: function () { return xs; }, gap: 6,
         rotate: longest > 12 ? -30 : 0, size: longest > 12 ? 80 : 40,
         values: function (u, vals) {
           return vals.map(function (v) { return Number.isInteger(v) && categories[v] !== undefined ? categories[v] : ""; });
         }},
        {label: options.yLabel, stroke: "#6b7685", grid: {stroke: "#dfe4ea"}, size: 56,
         values: function (u, vals) { return vals.map(formatNumber); }}
      ],
      series: plotSeries
    };
    return {opts: opts, data: [xs].concat(series.map(function (s) { return s.values; }))};
  }

  function create(kind, node, options) {
    var holder = document.createElement("div");
    holder.className = "chart-holder";
    node.appendChild(holder);
    var chart = {plot: null, element: holder};
    var current = options || {};
    function draw() {
      if (chart.plot) chart.plot.destroy();
      chart.plot = null;
      holder.replaceChildren();
      var width = Math.max(200, holder.clientWidth || node.clientWidth || 480);
      var made = kind === "bar" ? barPlot(current, width) : xyPlot(kind, current, width);
      if (!made) {
        var empty = document.createElement("p");
        empty.className = "chart-empty muted";
        empty.textContent = current.empty || "No data yet";
        holder.appendChild(empty);
        return;
      }
      holder.setAttribute("role", "img");
      holder.setAttribute("aria-label", current.ariaLabel || current.yLabel || "chart");
      chart.plot = new uPlot(made.opts, made.data, holder);
    }
    draw();
    var lastWidth = holder.clientWidth;
    var observer = null;
    if (typeof ResizeObserver !== "undefined") {
      observer = new ResizeObserver(function () {
        if (holder.clientWidth === lastWidth || !chart.plot) return;
        lastWidth = holder.clientWidth;
        chart.plot.setSize({width: Math.max(200, lastWidth), height: chart.plot.height});
      });
      observer.observe(holder);
    }
    chart.update = function (next) {
      current = next || {};
      draw();
    };
    chart.destroy = function () {
      if (observer) observer.disconnect();
      if (chart.plot) chart.plot.destroy();
      if (holder.parentNode) holder.parentNode.removeChild(holder);
    };
    return chart;
  }

  function scan(root) {
    var nodes = (root || document).querySelectorAll("[data-chart]");
    Array.prototype.forEach.call(nodes, function (node) {
      if (node.__lakeworksChart) return;
      var kind = node.getAttribute("data-chart");
      var source = node.querySelector("script[type='application/json']");
      var options;
      try {
        options = source ? JSON.parse(source.textContent) : {};
      } catch (err) {
        options = {empty: "Chart data could not be read"};
      }
      node.__lakeworksChart = create(kind === "bar" || kind === "scatter" ? kind : "line", node, options);
    });
  }

  global.LakeworksPlots = {scan: scan, palette: PALETTE.slice(), formatNumber: formatNumber};

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { scan(document); });
  } else {
    scan(document);
  }
})(window);
