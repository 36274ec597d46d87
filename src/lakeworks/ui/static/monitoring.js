// The model monitoring page: selects apply at once; charts, totals, the recent predictions and
// the drift view (swapped for the server's fresh rendering, then drawn by drift.js) refresh
// every 10 s from .../monitoring.json (same query) while the box is ticked.
(function () {
  "use strict";

  document.addEventListener("change", function (event) {
    var select = event.target.closest("select[data-autosubmit]");
    if (select && select.form) select.form.submit();
  });

  function refresh(root) {
    var url = root.getAttribute("data-monitoring-url") + location.search;
    return fetch(url, {headers: {Accept: "application/json"}, credentials: "same-origin"})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) return;
        root.querySelectorAll("[data-chart-name]").forEach(function (node) {
          var options = data.charts[node.getAttribute("data-chart-name")];
          if (options && node.__lakeworksChart) node.__lakeworksChart.update(options);
        });
        Object.keys(data.summary).forEach(function (key) {
          var cell = root.querySelector("[data-stat='" + key + "']");
          if (cell) cell.textContent = data.summary[key] === null ? "\u2014" : data.summary[key];
        });
        var body = root.querySelector("[data-monitoring-recent]");
        if (body && data.recent.length) {
          body.textContent = "";
          data.recent.forEach(function (row) {
            var tr = document.createElement("tr");
            [[row.uuid || "(aggregate)", "mono small nowrap"],
             [new Date(row.at).toLocaleString(), "nowrap"],
             [row.latency + " ms", "num"],
             [row.metrics, "mono small break"]].forEach(function (cell) {
              var td = document.createElement("td");
              td.className = cell[1];
              td.textContent = cell[0];
              tr.appendChild(td);
            });
            body.appendChild(tr);
          });
        }
        var drift = root.querySelector("[data-drift]");
        if (drift && data.drift_html) {
          var holder = document.createElement("div");
          holder.innerHTML = data.drift_html;
          var fresh = holder.querySelector("[data-drift]");
          if (fresh) {
            drift.replaceWith(fresh);
            if (window.lakeworksDrift) fresh.querySelectorAll("[data-drift-chart]").forEach(window.lakeworksDrift.draw);
          }
        }
        root.setAttribute("data-refreshed", String(Date.now()));
      })
      .catch(function () { /* the next tick tries again */ });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.querySelector("[data-monitoring-url]");
    var live = document.querySelector("[data-monitoring-live]");
    if (!root) return;
    window.setInterval(function () {
      if (document.hidden || (live && !live.checked)) return;
      refresh(root);
    }, 10000);
  });
})();
