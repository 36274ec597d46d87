/*
 * LakeworksCharts: small SVG charts, hand-written, no dependencies.
 *
 * API (stable; other pages rely on it):
 *
 *   LakeworksCharts.line(container, options)     -> chart
 *   LakeworksCharts.scatter(container, options)  -> chart   (same options as line, dots only)
 *   LakeworksCharts.bar(container, options)      -> chart
 *   chart.update(options)   re-draw with new options (same shape)
 *   chart.destroy()         remove the SVG and listeners
 *
 * container: an element or a CSS selector. The chart takes the container's width
 * (re-drawn when it changes) and options.height (default 240) pixels.
 *
 * line / scatter options:
 *   series:  [{name: "p95", points: [[x, y], ...], color: "#..." (optional),
 *              dots: true|false (optional), dashed: true|false (optional)}, ...]
 *            x: number, or epoch milliseconds when xTime is true; y: number, or null for a gap.
 *   xLabel, yLabel:  axis titles (optional)
 *   xTime:   true when x is epoch ms: ticks show times/dates (local time zone)
 *   yMin, yMax:  fix the y range (default: from data; includes 0 when all y >= 0 and
 *                yZero is not false)
 *   yFormat: function(y) -> string for ticks and the tooltip (optional)
 *   xFormat: function(x) -> string (optional)
 *   empty:   text shown when there is no point ("No data yet" by default)
 *   legend:  false to hide the legend (shown by default when there are 2+ series)
 *
 * bar options:
 *   categories: ["run 1", "run 2", ...]
 *   series:     [{name: "rmse", values: [0.4, 0.38, ...], color: (optional)}, ...]
 *               (several series give grouped bars)
 *   xLabel, yLabel, yFormat, empty, legend, height: as above
 *
 * Declarative use (no script on the page): an element with data-chart="line|scatter|bar"
 * holding a <script type="application/json"> child with the options is drawn on load:
 *
 *   <div data-chart="line">
 *     <script type="application/json">{"series": [{"name": "requests", "points": [[1700000000000, 3]]}],
 *                                      "xTime": true, "yLabel": "requests / min"}</script>
 *   </div>
 *
 * LakeworksCharts.scan(root) draws any such element under root (done for document on load).
 * The SVG has role="img" and an aria-label; each series path has data-series="<name>" and
 * each dot data-x/data-y, so tests can read what was drawn.
 */
(function (global) {
  "use strict";

  var SVG_NS = "http://www.w3.org/2000/svg";
  var PALETTE = ["#1668c4", "#d9730d", "#1d7a46", "#c0352b", "#7b4bc4", "#0f8a8a",
                 "#b8860b", "#5b6b7f", "#d6336c", "#2f9e44"];
  var MARGIN = {top: 12, right: 16, bottom: 40, left: 56};

  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG_NS, name);
    if (attrs) {
      for (var key in attrs) {
        if (Object.prototype.hasOwnProperty.call(attrs, key) && attrs[key] !== undefined) {
          node.setAttribute(key, String(attrs[key]));
        }
      }
    }
    if (parent) parent.appendChild(node);
    return node;
  }

  function resolve(container) {
    var node = typeof container === "string" ? document.querySelector(container) : container;
    if (!node) throw new Error("LakeworksCharts: no container " + container);
    return node;
  }

  function isNum(v) {
    return typeof v === "number" && isFinite(v);
  }

  // "Nice" tick values covering [lo, hi], about `count` of them.
  function niceTicks(lo, hi, count) {
    if (lo === hi) {
      var pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
      lo -= pad;
      hi += pad;
    }
    var raw = (hi - lo) / Math.max(1, count);
    var mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var norm = raw / mag;
    var step;
    if (norm < 1.5) step = mag;
    else if (norm < 3) step = 2 * mag;
    else if (norm < 7) step = 5 * mag;
    else step = 10 * mag;
    var start = Math.floor(lo / step) * step;
    var end = Math.ceil(hi / step) * step;
    var ticks = [];
    for (var v = start; v <= end + step / 2; v += step) {
      ticks.push(Math.abs(v) < step / 1e6 ? 0 : v);
    }
    return {lo: start, hi: end, ticks: ticks, step: step};
  }

  var TIME_STEPS = [1e3, 5e3, 15e3, 30e3, 60e3, 300e3, 900e3, 1800e3, 3600e3, 3 * 3600e3,
                    6 * 3600e3, 12 * 3600e3, 86400e3, 2 * 86400e3, 7 * 86400e3, 30 * 86400e3];

  function timeTicks(lo, hi, count) {
    if (lo === hi) {
      lo -= 30e3;
      hi += 30e3;
    }
    var raw = (hi - lo) / Math.max(1, count);
    var step = TIME_STEPS[TIME_STEPS.length - 1];
    for (var i = 0; i < TIME_STEPS.length; i++) {
      if (TIME_STEPS[i] >= raw) {
        step = TIME_STEPS[i];
        break;
      }
    }
    // Align to the local time zone for steps of an hour or more.
    var offset = step >= 3600e3 ? new Date(lo).getTimezoneOffset() * 60e3 : 0;
    var start = Math.ceil((lo - offset) / step) * step + offset;
    var ticks = [];
    for (var v = start; v <= hi; v += step) ticks.push(v);
    return {lo: lo, hi: hi, ticks: ticks, step: step};
  }

  function pad2(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function formatTime(ms, step) {
    var d = new Date(ms);
    var hm = pad2(d.getHours()) + ":" + pad2(d.getMinutes());
    if (step !== undefined && step < 60e3) return hm + ":" + pad2(d.getSeconds());
    if (step !== undefined && step >= 86400e3) return d.getFullYear() + "-" + pad2(d.getMonth() + 1) + "-" + pad2(d.getDate());
    return hm;
  }

  function formatFullTime(ms) {
    var d = new Date(ms);
    return d.getFullYear() + "-" + pad2(d.getMonth() + 1) + "-" + pad2(d.getDate()) + " " +
      pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + ":" + pad2(d.getSeconds());
  }

  function formatNumber(v) {
    if (!isNum(v)) return String(v);
    var a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
    if (a >= 1000) return v.toLocaleString(undefined, {maximumFractionDigits: 0});
    if (Number.isInteger(v)) return String(v);
    return String(Math.round(v * 1000) / 1000);
  }

  function colorOf(series, i) {
    return series.color || PALETTE[i % PALETTE.length];
  }

  function emptyState(svg, width, height, text) {
    el("text", {x: width / 2, y: height / 2, "text-anchor": "middle", "class": "chart-empty",
                fill: "#6b7685", "font-size": 13}, svg).textContent = text || "No data yet";
  }

  function drawLegend(holder, series) {
    var legend = document.createElement("div");
    legend.className = "chart-legend";
    legend.style.cssText = "display:flex;flex-wrap:wrap;gap:.25rem 1rem;font-size:.8rem;color:#4a5565;margin-top:.25rem";
    series.forEach(function (s, i) {
      var item = document.createElement("span");
      item.setAttribute("data-legend", s.name);
      var swatch = document.createElement("span");
      swatch.style.cssText = "display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:.35rem;vertical-align:-1px;background:" + colorOf(s, i);
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(s.name));
      legend.appendChild(item);
    });
    holder.appendChild(legend);
  }

  function makeTooltip(holder) {
    var tip = document.createElement("div");
    tip.className = "chart-tooltip";
    tip.style.cssText = "position:absolute;pointer-events:none;display:none;background:#1b2430;color:#fff;" +
      "font-size:12px;line-height:1.4;padding:.3rem .5rem;border-radius:6px;white-space:nowrap;z-index:5";
    holder.appendChild(tip);
    return tip;
  }

  function axes(svg, o) {
    // o: {width, height, plotW, plotH, xs: tick obj, ys: tick obj, xScale, yScale, xFmt, yFmt, xLabel, yLabel}
    var g = el("g", {"class": "chart-axes", "font-size": 11, fill: "#6b7685"}, svg);
    o.ys.ticks.forEach(function (t) {
      var y = o.yScale(t);
      el("line", {x1: MARGIN.left, x2: MARGIN.left + o.plotW, y1: y, y2: y,
                  stroke: "#dfe4ea", "stroke-width": 1}, g);
      el("text", {x: MARGIN.left - 6, y: y + 4, "text-anchor": "end"}, g).textContent = o.yFmt(t);
    });
    var lastRight = -Infinity;
    (o.xs.ticks || []).forEach(function (t) {
      var x = o.xScale(t);
      if (x < MARGIN.left - 0.5 || x > MARGIN.left + o.plotW + 0.5) return;
      el("line", {x1: x, x2: x, y1: MARGIN.top + o.plotH, y2: MARGIN.top + o.plotH + 4, stroke: "#c9d0d9"}, g);
      var label = o.xFmt(t);
      var w = label.length * 6.2;
      if (x - w / 2 < lastRight + 6) return;  // skip overlapping labels
      lastRight = x + w / 2;
      el("text", {x: x, y: MARGIN.top + o.plotH + 16, "text-anchor": "middle"}, g).textContent = label;
    });
    el("line", {x1: MARGIN.left, x2: MARGIN.left + o.plotW, y1: MARGIN.top + o.plotH,
                y2: MARGIN.top + o.plotH, stroke: "#c9d0d9"}, g);
    if (o.xLabel) {
      el("text", {x: MARGIN.left + o.plotW / 2, y: o.height - 4, "text-anchor": "middle",
                  fill: "#4a5565"}, g).textContent = o.xLabel;
    }
    if (o.yLabel) {
      el("text", {x: 12, y: MARGIN.top + o.plotH / 2, "text-anchor": "middle", fill: "#4a5565",
                  transform: "rotate(-90 12 " + (MARGIN.top + o.plotH / 2) + ")"}, g).textContent = o.yLabel;
    }
  }

  function drawXY(holder, options, mode) {
    var width = Math.max(160, holder.clientWidth || 480);
    var height = options.height || 240;
    var series = (options.series || []).map(function (s) {
      return {name: String(s.name == null ? "" : s.name), color: s.color, dots: s.dots, dashed: s.dashed,
              points: (s.points || []).filter(function (p) { return p && isNum(Number(p[0])); })
                .map(function (p) { return [Number(p[0]), p[1] === null || p[1] === undefined ? null : Number(p[1])]; })
                .sort(function (a, b) { return a[0] - b[0]; })};
    });
    var svg = el("svg", {width: width, height: height, viewBox: "0 0 " + width + " " + height,
                         role: "img", "class": "chart chart-" + mode,
                         "aria-label": options.ariaLabel || options.yLabel || "chart"});
    svg.style.display = "block";
    svg.style.overflow = "visible";
    holder.appendChild(svg);

    var xLo = Infinity, xHi = -Infinity, yLo = Infinity, yHi = -Infinity, count = 0;
    series.forEach(function (s) {
      s.points.forEach(function (p) {
        xLo = Math.min(xLo, p[0]);
        xHi = Math.max(xHi, p[0]);
        if (isNum(p[1])) {
          yLo = Math.min(yLo, p[1]);
          yHi = Math.max(yHi, p[1]);
          count++;
        }
      });
    });
    if (!count) {
      emptyState(svg, width, height, options.empty);
      return;
    }
    if (isNum(options.yMin)) yLo = options.yMin;
    else if (yLo >= 0 && options.yZero !== false) yLo = 0;
    if (isNum(options.yMax)) yHi = options.yMax;

    var plotW = width - MARGIN.left - MARGIN.right;
    var plotH = height - MARGIN.top - MARGIN.bottom;
    var ys = niceTicks(yLo, yHi, Math.max(2, Math.round(plotH / 45)));
    if (isNum(options.yMin)) ys.lo = options.yMin;
    if (isNum(options.yMax)) ys.hi = options.yMax;
    ys.ticks = ys.ticks.filter(function (t) { return t >= ys.lo - 1e-12 && t <= ys.hi + 1e-12; });
    var tickCount = Math.max(2, Math.round(plotW / 90));
    var xs = options.xTime ? timeTicks(xLo, xHi, tickCount) : niceTicks(xLo, xHi, tickCount);
    if (!options.xTime) {
      xs.lo = xLo === xHi ? xs.lo : xLo;
      xs.hi = xLo === xHi ? xs.hi : xHi;
    }
    var xScale = function (x) { return MARGIN.left + (xs.hi === xs.lo ? plotW / 2 : (x - xs.lo) / (xs.hi - xs.lo) * plotW); };
    var yScale = function (y) { return MARGIN.top + plotH - (ys.hi === ys.lo ? plotH / 2 : (y - ys.lo) / (ys.hi - ys.lo) * plotH); };
    var yFmt = options.yFormat || formatNumber;
    var xFmt = options.xFormat || (options.xTime ? function (x) { return formatTime(x, xs.step); } : formatNumber);
    var xFull = options.xFormat || (options.xTime ? formatFullTime : formatNumber);

    axes(svg, {width: width, height: height, plotW: plotW, plotH: plotH, xs: xs, ys: ys,
               xScale: xScale, yScale: yScale, xFmt: xFmt, yFmt: yFmt,
               xLabel: options.xLabel, yLabel: options.yLabel});

    var plot = el("g", {"class": "chart-plot"}, svg);
    series.forEach(function (s, i) {
      var color = colorOf(s, i);
      var g = el("g", {"data-series": s.name}, plot);
      if (mode === "line") {
        var d = "", pen = false;
        s.points.forEach(function (p) {
          if (!isNum(p[1])) {
            pen = false;
            return;
          }
          d += (pen ? "L" : "M") + xScale(p[0]).toFixed(1) + "," + yScale(p[1]).toFixed(1);
          pen = true;
        });
        if (d) {
          el("path", {d: d, fill: "none", stroke: color, "stroke-width": 2, "stroke-linejoin": "round",
                      "stroke-linecap": "round", "stroke-dasharray": s.dashed ? "5 4" : undefined,
                      "data-series": s.name, "class": "chart-line"}, g);
        }
      }
      var dots = mode === "scatter" || s.dots === true || (s.dots !== false && s.points.length <= 60);
      s.points.forEach(function (p, k) {
        if (!isNum(p[1])) return;
        // A point with no numeric neighbour draws no line: always show it as a dot.
        var isolated = !(k > 0 && isNum(s.points[k - 1][1])) &&
                       !(k < s.points.length - 1 && isNum(s.points[k + 1][1]));
        el("circle", {cx: xScale(p[0]).toFixed(1), cy: yScale(p[1]).toFixed(1),
                      r: mode === "scatter" ? 3.5 : (dots ? 2.5 : (isolated ? 3 : 0)), fill: color,
                      "fill-opacity": mode === "scatter" ? 0.75 : 1,
                      "data-x": p[0], "data-y": p[1], "class": "chart-dot"}, g);
      });
    });

    // Hover: the nearest x across series, with every series' value there.
    var tip = makeTooltip(holder);
    var guide = el("line", {y1: MARGIN.top, y2: MARGIN.top + plotH, stroke: "#9aa5b3",
                            "stroke-dasharray": "3 3", visibility: "hidden"}, svg);
    var overlay = el("rect", {x: MARGIN.left, y: MARGIN.top, width: plotW, height: plotH,
                              fill: "transparent"}, svg);
    overlay.addEventListener("mousemove", function (event) {
      var box = svg.getBoundingClientRect();
      var mx = event.clientX - box.left;
      var best = null, bestDist = Infinity;
      series.forEach(function (s) {
        s.points.forEach(function (p) {
          if (!isNum(p[1])) return;
          var dist = Math.abs(xScale(p[0]) - mx);
          if (dist < bestDist) {
            bestDist = dist;
            best = p[0];
          }
        });
      });
      if (best === null) return;
      var lines = [xFull(best)];
      series.forEach(function (s, i) {
        s.points.forEach(function (p) {
          if (p[0] === best && isNum(p[1])) {
            lines.push("<span style=\"color:" + colorOf(s, i) + "\">\u25CF</span> " +
                       escapeHtml(s.name) + ": " + escapeHtml(yFmt(p[1])));
          }
        });
      });
      var gx = xScale(best);
      guide.setAttribute("x1", gx);
      guide.setAttribute("x2", gx);
      guide.setAttribute("visibility", "visible");
      tip.innerHTML = lines.join("<br>");
      tip.style.display = "block";
      var left = gx + 12;
      if (left + tip.offsetWidth > width) left = gx - 12 - tip.offsetWidth;
      tip.style.left = Math.max(0, left) + "px";
      tip.style.top = MARGIN.top + "px";
    });
    overlay.addEventListener("mouseleave", function () {
      tip.style.display = "none";
      guide.setAttribute("visibility", "hidden");
    });

    if (options.legend !== false && (series.length > 1 || options.legend === true)) drawLegend(holder, series);
  }

  function drawBar(holder, options) {
    var width = Math.max(160, holder.clientWidth || 480);
    var height = options.height || 240;
    var categories = (options.categories || []).map(String);
    var series = (options.series || []).map(function (s) {
      return {name: String(s.name == null ? "" : s.name), color: s.color,
              values: (s.values || []).map(function (v) { return v === null || v === undefined ? null : Number(v); })};
    });
    var svg = el("svg", {width: width, height: height, viewBox: "0 0 " + width + " " + height,
                         role: "img", "class": "chart chart-bar",
                         "aria-label": options.ariaLabel || options.yLabel || "chart"});
    svg.style.display = "block";
    holder.appendChild(svg);
    var lo = 0, hi = -Infinity, count = 0;
    series.forEach(function (s) {
      s.values.forEach(function (v) {
        if (isNum(v)) {
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
          count++;
        }
      });
    });
    if (!count || !categories.length) {
      emptyState(svg, width, height, options.empty);
      return;
    }
    hi = Math.max(hi, 0);
    var plotW = width - MARGIN.left - MARGIN.right;
    var plotH = height - MARGIN.top - MARGIN.bottom;
    var ys = niceTicks(lo, hi, Math.max(2, Math.round(plotH / 45)));
    var yScale = function (y) { return MARGIN.top + plotH - (y - ys.lo) / (ys.hi - ys.lo) * plotH; };
    var band = plotW / categories.length;
    var inner = band * 0.75;
    var barW = inner / Math.max(1, series.length);
    var yFmt = options.yFormat || formatNumber;
    var xScale = function (i) { return MARGIN.left + band * (i + 0.5); };
    axes(svg, {width: width, height: height, plotW: plotW, plotH: plotH,
               xs: {ticks: categories.map(function (_, i) { return i; })}, ys: ys,
               xScale: xScale, yScale: yScale, xFmt: function (i) {
                 var c = categories[i];
                 var max = Math.max(3, Math.floor(band / 6.2));
                 return c.length > max ? c.slice(0, max - 1) + "\u2026" : c;
               }, yFmt: yFmt, xLabel: options.xLabel, yLabel: options.yLabel});
    var tip = makeTooltip(holder);
    var zero = yScale(Math.max(ys.lo, Math.min(0, ys.hi)));
    series.forEach(function (s, si) {
      var g = el("g", {"data-series": s.name}, svg);
      s.values.forEach(function (v, ci) {
        if (!isNum(v) || ci >= categories.length) return;
        var x = MARGIN.left + band * ci + (band - inner) / 2 + barW * si;
        var y = yScale(v);
        var rect = el("rect", {x: x.toFixed(1), y: Math.min(y, zero).toFixed(1), width: Math.max(1, barW - 2).toFixed(1),
                               height: Math.max(1, Math.abs(zero - y)).toFixed(1), fill: colorOf(s, si),
                               rx: 2, "data-x": categories[ci], "data-y": v, "class": "chart-bar-rect"}, g);
        rect.addEventListener("mousemove", function (event) {
          var box = svg.getBoundingClientRect();
          tip.innerHTML = escapeHtml(categories[ci]) + "<br>" + escapeHtml(s.name) + ": " + escapeHtml(yFmt(v));
          tip.style.display = "block";
          tip.style.left = Math.min(width - tip.offsetWidth, event.clientX - box.left + 12) + "px";
          tip.style.top = Math.max(0, event.clientY - box.top - 30) + "px";
        });
        rect.addEventListener("mouseleave", function () { tip.style.display = "none"; });
      });
    });
    if (options.legend !== false && (series.length > 1 || options.legend === true)) drawLegend(holder, series);
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;"}[c];
    });
  }

  function create(kind, container, options) {
    var node = resolve(container);
    var holder = document.createElement("div");
    holder.className = "chart-holder";
    holder.style.position = "relative";
    node.appendChild(holder);
    var current = options || {};
    var lastWidth = -1;
    function draw() {
      holder.innerHTML = "";
      lastWidth = holder.clientWidth;
      if (kind === "bar") drawBar(holder, current);
      else drawXY(holder, current, kind);
    }
    draw();
    var observer = null;
    if (typeof ResizeObserver !== "undefined") {
      observer = new ResizeObserver(function () {
        if (holder.clientWidth !== lastWidth) draw();
      });
      observer.observe(holder);
    }
    return {
      element: holder,
      update: function (next) {
        current = next || {};
        draw();
      },
      destroy: function () {
        if (observer) observer.disconnect();
        if (holder.parentNode) holder.parentNode.removeChild(holder);
      }
    };
  }

  function scan(root) {
    var scope = root || document;
    var nodes = scope.querySelectorAll("[data-chart]");
    Array.prototype.forEach.call(nodes, function (node) {
      if (node.__lakeworksChart) return;
      var kind = node.getAttribute("data-chart");
      var source = node.querySelector("script[type='application/json']");
      var options = {};
      try {
        options = source ? JSON.parse(source.textContent) : {};
      } catch (err) {
        options = {empty: "Chart data could not be read"};
      }
      node.__lakeworksChart = create(kind === "bar" || kind === "scatter" ? kind : "line", node, options);
    });
  }

  var api = {
    line: function (container, options) { return create("line", container, options); },
    scatter: function (container, options) { return create("scatter", container, options); },
    bar: function (container, options) { return create("bar", container, options); },
    scan: scan,
    palette: PALETTE.slice(),
    formatNumber: formatNumber,
    formatTime: formatFullTime
  };
  global.LakeworksCharts = api;

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { scan(document); });
  } else {
    scan(document);
  }
})(window);
