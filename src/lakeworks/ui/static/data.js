// The Data page: the SQL explorer (run, page, cancel, history, table columns) and the
// dashboards' charts (uPlot, vendored). Talks to API v2 with the session cookie.
(function () {
  "use strict";

  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  async function api(url, options) {
    const init = Object.assign({ credentials: "same-origin", headers: { Accept: "application/json" } }, options || {});
    if (init.body && typeof init.body !== "string") {
      init.body = JSON.stringify(init.body);
      init.headers["Content-Type"] = "application/json";
    }
    if (init.method && init.method !== "GET") init.headers["X-CSRF-Token"] = csrf;
    const answer = await fetch(url, init);
    let body = null;
    try { body = await answer.json(); } catch (e) { body = null; }
    if (!answer.ok) {
      const error = new Error((body && body.message) || ("The server answered " + answer.status + "."));
      error.status = answer.status;
      throw error;
    }
    return body;
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function cellText(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  function fillTable(table, columns, rows) {
    table.replaceChildren();
    const head = el("thead");
    const tr = el("tr");
    columns.forEach((c) => {
      const th = el("th", {}, c.name + " ");
      th.appendChild(el("span", { class: "muted small" }, c.type));
      tr.appendChild(th);
    });
    head.appendChild(tr);
    const body = el("tbody");
    rows.forEach((row) => {
      const r = el("tr");
      row.forEach((v) => {
        const td = el("td", v === null ? { class: "muted" } : {}, v === null ? "NULL" : cellText(v));
        r.appendChild(td);
      });
      body.appendChild(r);
    });
    table.append(head, body);
  }

  // SQL explorer ---------------------------------------------------------------------------

  function explorer(root) {
    const project = root.dataset.project;
    const pageRows = parseInt(root.dataset.pageRows, 10) || 100;
    const base = "/api/v2/projects/" + encodeURIComponent(project) + "/data";
    const sql = root.querySelector("[data-sql]");
    const run = root.querySelector("[data-run]");
    const cancel = root.querySelector("[data-cancel]");
    const status = root.querySelector("[data-status]");
    const error = root.querySelector("[data-error]");
    const results = root.querySelector("[data-results]");
    const grid = root.querySelector("[data-grid]");
    const prev = root.querySelector("[data-prev]");
    const next = root.querySelector("[data-next]");
    const range = root.querySelector("[data-range]");
    const history = root.querySelector("[data-history]");
    const write = root.querySelector("[data-write]");
    let running = null;
    let current = { sql: "", offset: 0 };

    async function go(text, offset) {
      if (running) return;
      const queryId = "q" + Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
      running = queryId;
      run.disabled = true;
      cancel.disabled = false;
      error.hidden = true;
      status.textContent = "Running…";
      const writing = !!(write && write.checked);
      try {
        const page = await api(base + "/query", {
          method: "POST",
          body: writing ? { sql: text, query_id: queryId, write: true }
            : { sql: text, offset: offset, limit: pageRows, query_id: queryId },
        });
        current = { sql: text, offset: offset };
        fillTable(grid, page.columns, page.rows);
        results.hidden = false;
        const last = offset + page.rows.length;
        range.textContent = page.rows.length ? "Rows " + (offset + 1) + "–" + last + (page.has_more ? ", more follow" : " of " + last) : "No rows";
        prev.disabled = offset === 0;
        next.disabled = !page.has_more;
        status.textContent = writing
          ? "Wrote " + page.rows[0][1] + " rows to " + page.rows[0][0] + " in " + page.elapsed_ms + " ms."
          : page.rows.length + " rows in " + page.elapsed_ms + " ms" + (page.has_more ? " (more on the next page)" : "");
      } catch (e) {
        error.textContent = e.message;
        error.hidden = false;
        status.textContent = e.status === 409 ? "Cancelled." : "The query failed.";
      } finally {
        running = null;
        run.disabled = false;
        cancel.disabled = true;
        if (offset === 0) refreshHistory();
      }
    }

    async function refreshHistory() {
      if (!history) return;
      try {
        const answer = await api(base + "/history?limit=20");
        history.replaceChildren();
        answer.queries.forEach((q) => {
          const li = el("li");
          const button = el("button", { type: "button", class: "data-history-item", "data-history-sql": q.sql });
          button.appendChild(el("span", { class: "mono" }, q.sql.length > 140 ? q.sql.slice(0, 139) + "…" : q.sql));
          li.appendChild(button);
          li.appendChild(el("span", { class: "small " + (q.status === "succeeded" ? "muted" : "status-failed") },
            " " + q.status.replace("_", " ") + " · " + q.elapsed_ms + " ms"));
          history.appendChild(li);
        });
      } catch (e) { /* the history is a convenience; the query's own answer was shown */ }
    }

    run.addEventListener("click", () => go(sql.value, 0));
    cancel.addEventListener("click", async () => {
      if (!running) return;
      status.textContent = "Cancelling…";
      try { await api(base + "/queries/" + encodeURIComponent(running) + "/cancel", { method: "POST" }); }
      catch (e) { status.textContent = e.message; }
    });
    prev.addEventListener("click", () => go(current.sql, Math.max(0, current.offset - pageRows)));
    next.addEventListener("click", () => go(current.sql, current.offset + pageRows));
    sql.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        go(sql.value, 0);
      }
    });
    if (history) {
      history.addEventListener("click", (event) => {
        const item = event.target.closest("[data-history-sql]");
        if (item) { sql.value = item.getAttribute("data-history-sql"); sql.focus(); }
      });
    }
    const save = document.querySelector("[data-save-form]");
    if (save) {
      save.addEventListener("submit", () => { save.querySelector("[data-save-sql]").value = sql.value; });
    }
    root.querySelectorAll("details[data-table]").forEach((details) => {
      details.addEventListener("toggle", async () => {
        if (!details.open || details.dataset.loaded) return;
        details.dataset.loaded = "1";
        const list = details.querySelector("[data-columns]");
        try {
          const table = await api(base + "/sources/" + encodeURIComponent(details.dataset.table));
          list.replaceChildren();
          table.columns.forEach((c) => {
            const li = el("li");
            li.appendChild(el("span", { class: "mono" }, c.name));
            li.appendChild(el("span", { class: "muted small" }, " " + c.type));
            list.appendChild(li);
          });
        } catch (e) {
          list.replaceChildren(el("li", { class: "status-failed small" }, e.message));
        }
      });
    });
  }

  // Charts ---------------------------------------------------------------------------------

  const PALETTE = ["#2563eb", "#f97316", "#16a34a", "#dc2626", "#9333ea", "#0891b2", "#ca8a04", "#db2777"];

  function isNumber(v) { return typeof v === "number" && isFinite(v); }

  function draw(figure, answer) {
    const box = figure.querySelector("[data-chart]");
    box.replaceChildren();
    const kind = figure.dataset.kind;
    const columns = answer.columns;
    const rows = answer.rows;
    if (kind === "table" || !rows.length) {
      if (!rows.length) { box.appendChild(el("p", { class: "muted small" }, "No rows.")); return; }
      const wrap = el("div", { class: "table-wrap" });
      const table = el("table", { class: "table data-result-table" });
      fillTable(table, columns, rows);
      wrap.appendChild(table);
      box.appendChild(wrap);
      return;
    }
    const dims = answer.visual.dimensions.length;
    const width = Math.max(240, box.clientWidth || 480);
    const height = 300;
    const fmt = (v) => (isNumber(v) ? (Math.abs(v) >= 1000 ? v.toLocaleString() : String(Math.round(v * 100) / 100)) : "");
    let opts;
    let data;
    if (kind === "scatter") {
      const xi = dims, yi = dims + 1;
      const points = rows.filter((r) => isNumber(r[xi]) && isNumber(r[yi])).sort((a, b) => a[xi] - b[xi]);
      data = [points.map((r) => r[xi]), points.map((r) => r[yi])];
      opts = {
        width: width, height: height, legend: { show: false },
        scales: { x: { time: false } },
        axes: [{ label: columns[xi].name }, { label: columns[yi].name, values: (u, vals) => vals.map(fmt) }],
        series: [{}, { label: columns[yi].name, stroke: PALETTE[0], paths: () => null, points: { show: true, size: 5, fill: PALETTE[0] } }],
      };
    } else {
      const labels = rows.map((r) => cellText(r[0]));
      const numericX = kind === "histogram" || (kind === "line" && rows.every((r) => isNumber(r[0])));
      const xs = numericX ? rows.map((r) => r[0]) : rows.map((r, i) => i);
      const measureColumns = kind === "histogram" ? [1] : columns.map((c, i) => i).slice(Math.max(dims, 1));
      data = [xs].concat(measureColumns.map((i) => rows.map((r) => (isNumber(r[i]) ? r[i] : null))));
      const bars = kind === "bar" || kind === "horizontal_bar" || kind === "histogram";
      const many = measureColumns.length;
      const series = [{ label: columns[0].name, value: (u, v) => (numericX ? fmt(v) : (labels[v] || "")) }].concat(
        measureColumns.map((i, n) => {
          const color = PALETTE[n % PALETTE.length];
          const s = { label: columns[i].name, stroke: color, width: bars ? 0 : 2, value: (u, v) => fmt(v) };
          if (bars) {
            s.fill = color + "cc";
            s.points = { show: false };
            s.paths = uPlot.paths.bars({ size: [kind === "histogram" ? 0.98 : 0.7 / many, 80], align: kind === "histogram" ? 1 : many > 1 ? (n === 0 ? -1 : 1) : 0 });
          }
          return s;
        })
      );
      const categoryAxis = {
        scale: "x",
        values: (u, vals) => vals.map((v) => (numericX ? fmt(v) : (Number.isInteger(v) && labels[v] !== undefined ? labels[v] : ""))),
        splits: numericX ? undefined : () => xs,
        gap: 6,
      };
      const valueAxis = { scale: "y", values: (u, vals) => vals.map(fmt), size: 60 };
      opts = {
        width: width, height: height,
        legend: { show: many > 1 || kind === "line" },
        series: series,
        scales: {
          x: { time: false, range: numericX ? undefined : () => [-0.5, xs.length - 0.5] },
          y: { range: (u, min, max) => [Math.min(0, min), max > 0 ? max * 1.05 : 1] },
        },
        axes: [categoryAxis, valueAxis],
      };
      if (kind === "horizontal_bar") {
        opts.scales.x.ori = 1;
        opts.scales.x.dir = -1;
        opts.scales.y.ori = 0;
        categoryAxis.side = 3;
        categoryAxis.size = Math.min(220, 12 + 7 * Math.max.apply(null, labels.map((l) => l.length)));
        valueAxis.side = 2;
        valueAxis.size = 40;
        opts.height = Math.max(height, 36 * rows.length + 60);
      } else if (!numericX) {
        categoryAxis.rotate = labels.some((l) => l.length > 10) ? -30 : 0;
        categoryAxis.size = labels.some((l) => l.length > 10) ? 90 : 40;
      }
    }
    box.setAttribute("role", "img");
    box.setAttribute("aria-label", (figure.querySelector(".strong") || {}).textContent || kind);
    new uPlot(opts, data, box);
  }

  async function dashboards() {
    const figures = document.querySelectorAll("[data-visual]");
    for (const figure of figures) {
      try {
        draw(figure, await api(figure.dataset.url));
        figure.dataset.drawn = "1";
      } catch (e) {
        const box = figure.querySelector("[data-chart]");
        box.replaceChildren(el("p", { class: "status-failed small" }, e.message));
        figure.dataset.drawn = "error";
      }
    }
  }

  // Shelves: a field chip dragged from the palette fills the shelf's first free slot (the
  // selects stay the keyboard's way, and what the form sends).
  function shelves(form) {
    form.querySelectorAll("[data-field]").forEach((chip) => {
      chip.addEventListener("dragstart", (event) => {
        event.dataTransfer.setData("text/plain", chip.dataset.field);
        event.dataTransfer.effectAllowed = "copy";
      });
    });
    form.querySelectorAll("[data-shelf]").forEach((shelf) => {
      const kind = shelf.dataset.shelf;
      shelf.addEventListener("dragover", (event) => {
        event.preventDefault();
        shelf.classList.add("data-shelf-over");
      });
      shelf.addEventListener("dragleave", () => shelf.classList.remove("data-shelf-over"));
      shelf.addEventListener("drop", (event) => {
        event.preventDefault();
        shelf.classList.remove("data-shelf-over");
        const field = event.dataTransfer.getData("text/plain");
        const slots = Array.from(shelf.querySelectorAll('select[name="' + kind + '"]'));
        if (!field || !slots.length) return;
        const free = slots.find((s) => !s.value || (kind === "measure" && s.dataset.dropped !== "1"));
        const slot = free || slots[slots.length - 1];
        if (!Array.from(slot.options).some((o) => o.value === field)) return;
        slot.value = field;
        slot.dataset.dropped = "1";
        slot.dispatchEvent(new Event("change", { bubbles: true }));
        const aggregate = slot.parentElement.querySelector('select[name="aggregate"]');
        if (aggregate) aggregate.value = field === "Record Count" ? "count" : "sum";
      });
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll(".data-visual-form").forEach(shelves);
    const root = document.querySelector("[data-explorer]");
    if (root) explorer(root);
    if (document.querySelector("[data-visual]") && window.uPlot) dashboards();
    document.querySelectorAll("select[data-autosubmit]").forEach((select) => {
      select.addEventListener("change", () => select.form.submit());
    });
  });
})();
