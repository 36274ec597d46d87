// The drift view of the model monitoring page: PSI per feature as bars, with the threshold as
// a dashed line (uPlot, vendored). The data is JSON in the page (templates/models/monitoring_drift.html).
(function () {
  "use strict";

  // The threshold across the whole plot, dashed, with its value at the right end.
  function thresholdLine(u, threshold) {
    var ctx = u.ctx;
    var y = Math.round(u.valToPos(threshold, "y", true));
    ctx.save();
    ctx.strokeStyle = "#c0352b";
    ctx.lineWidth = 2 * devicePixelRatio;
    ctx.setLineDash([8 * devicePixelRatio, 5 * devicePixelRatio]);
    ctx.beginPath();
    ctx.moveTo(u.bbox.left, y);
    ctx.lineTo(u.bbox.left + u.bbox.width, y);
    ctx.stroke();
    ctx.fillStyle = "#c0352b";
    ctx.font = (12 * devicePixelRatio) + "px sans-serif";
    ctx.textAlign = "right";
    ctx.fillText("threshold " + threshold, u.bbox.left + u.bbox.width - 4, y - 6 * devicePixelRatio);
    ctx.restore();
  }

  function draw(box) {
    var spec = JSON.parse(box.querySelector("script").textContent);
    if (!spec.features.length) return;
    var xs = spec.features.map(function (_, i) { return i; });
    var fmt = function (v) { return v === null || v === undefined ? "" : (Math.round(v * 1000) / 1000).toString(); };
    var opts = {
      width: Math.max(320, box.clientWidth || 640),
      height: 260,
      legend: { show: true },
      scales: {
        x: { time: false, range: function () { return [-0.5, xs.length - 0.5]; } },
        y: { range: function (u, min, max) { return [0, Math.max(max, spec.threshold) * 1.15]; } }
      },
      axes: [
        { values: function (u, vals) { return vals.map(function (v) { return Number.isInteger(v) && spec.features[v] !== undefined ? spec.features[v] : ""; }); },
          splits: function () { return xs; }, gap: 6 },
        { label: "PSI", values: function (u, vals) { return vals.map(fmt); }, size: 50 }
      ],
      series: [
        { label: "feature", value: function (u, v) { return spec.features[v] || ""; } },
        { label: "PSI", stroke: "#2f6fde", fill: "#2f6fdecc", width: 0, value: function (u, v) { return fmt(v); },
          points: { show: false }, paths: uPlot.paths.bars({ size: [0.6, 80] }) },
        { label: "KS", stroke: "#7b4bc4", width: 2, value: function (u, v) { return fmt(v); },
          points: { show: true, size: 7, fill: "#7b4bc4" }, paths: function () { return null; } },
      ],
      hooks: { draw: [function (u) { thresholdLine(u, spec.threshold); }] }
    };
    box.setAttribute("role", "img");
    box.setAttribute("aria-label", "PSI per feature with the threshold " + spec.threshold);
    new uPlot(opts, [xs, spec.psi, spec.ks], box);
    box.setAttribute("data-drawn", "1");
  }

  // monitoring.js draws the view it swaps in when the page refreshes itself.
  window.lakeworksDrift = { draw: function (box) { if (window.uPlot) draw(box); } };

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.uPlot) return;
    document.querySelectorAll("[data-drift-chart]").forEach(draw);
  });
})();
