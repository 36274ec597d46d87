// Small progressive enhancements; every page works without them.
(function () {
  "use strict";

  // Navigation drawer on small screens.
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("[data-nav-toggle]");
    if (toggle) {
      document.body.classList.toggle("nav-open");
      return;
    }
    if (event.target.closest("[data-nav-close]")) {
      document.body.classList.remove("nav-open");
    }
    if (event.target.closest("[data-back]")) {
      history.length > 1 ? history.back() : (location.href = "/projects");
    }
    // Close open menus and popovers when clicking elsewhere.
    document.querySelectorAll("details.user-menu[open], details.popover[open]").forEach(function (d) {
      if (!d.contains(event.target)) d.removeAttribute("open");
    });
  });

  // Ask before destructive form posts.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  }, true);

  // Selects that apply at once (role pickers).
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el.matches("select[data-autosubmit]")) el.form.requestSubmit();
    if (el.matches("input[data-env-secret]")) {
      var value = el.closest("tr").querySelector("[data-env-value]");
      if (value) value.type = el.checked ? "password" : "text";
    }
  });

  // Environment variables: add rows from the template, numbering them for the checkboxes.
  document.addEventListener("click", function (event) {
    var add = event.target.closest("[data-env-add]");
    if (!add) return;
    var form = add.closest("form");
    var body = form.querySelector("[data-env-rows]");
    var template = document.getElementById("env-row-template");
    var index = body.querySelectorAll("tr").length;
    var html = template.innerHTML.replace(/__INDEX__/g, String(index));
    body.insertAdjacentHTML("beforeend", html);
    var inputs = body.querySelectorAll("tr:last-child input[name=env_name]");
    if (inputs.length) inputs[0].focus();
  });

  // Copy a secret to the clipboard.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      var label = button.innerHTML;
      button.textContent = "Copied";
      setTimeout(function () { button.innerHTML = label; }, 1500);
    });
  });

  // Editor: Ctrl/Cmd+S saves, and leaving with unsaved changes asks first.
  var editor = document.querySelector("form[data-editor]");
  if (editor) {
    var area = editor.querySelector("textarea");
    var status = editor.querySelector("[data-editor-status]");
    var dirty = false;
    area.addEventListener("input", function () {
      if (!dirty && status) status.textContent = "Unsaved changes · " + status.textContent;
      dirty = true;
    });
    area.addEventListener("keydown", function (event) {
      if ((event.ctrlKey || event.metaKey) && event.key === "s") {
        event.preventDefault();
        editor.requestSubmit();
      }
    });
    editor.addEventListener("submit", function () { dirty = false; });
    window.addEventListener("beforeunload", function (event) {
      if (dirty) { event.preventDefault(); event.returnValue = ""; }
    });
  }
})();

// Jobs: extra form rows, the schedule builder with its live reading, and a log that follows
// a run as it writes.
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var add = event.target.closest("[data-add-row]");
    if (!add) return;
    var body = add.closest("form").querySelector('[data-rows="' + add.getAttribute("data-target") + '"]');
    var html = document.getElementById(add.getAttribute("data-add-row")).innerHTML;
    body.insertAdjacentHTML("beforeend", html.replace(/__INDEX__/g, String(body.rows.length)));
    var first = body.lastElementChild.querySelector("input");
    if (first) first.focus();
  });

  var builder = document.querySelector("[data-cron-builder]");
  var input = document.querySelector("[data-cron-input]");
  if (builder && input) {
    var mode = builder.querySelector("[data-cron-mode]");
    var reading = document.querySelector("[data-cron-reading]");
    var zone = document.querySelector("[data-cron-timezone]");
    var timer = null;
    var part = function (name) { return builder.querySelector('[data-cron-part="' + name + '"]'); };
    var int = function (el, fallback) { var n = parseInt(el.value, 10); return isNaN(n) ? fallback : n; };
    var pad = function (n) { return ("0" + n).slice(-2); };

    var fromBuilder = function () {
      var time = (part("time").value || "09:00").split(":");
      var at = (parseInt(time[1], 10) || 0) + " " + (parseInt(time[0], 10) || 0);
      switch (mode.value) {
        case "minutes": return "*/" + int(part("every"), 15) + " * * * *";
        case "hourly": return int(part("minute"), 0) + " * * * *";
        case "daily": return at + " * * *";
        case "weekly": return at + " * * " + part("weekday").value;
      }
      return null;
    };

    // Show an expression in the builder when it is one the builder can make.
    var toBuilder = function (expression) {
      var f = expression.trim().split(/\s+/), found = "custom";
      var minute = function (v) { return /^\d+$/.test(v) && +v < 60; };
      var hour = function (v) { return /^\d+$/.test(v) && +v < 24; };
      var step = /^\*\/(\d+)$/.exec(f[0]);
      if (f.length === 5 && f[2] === "*" && f[3] === "*") {
        if (step && +step[1] > 0 && +step[1] < 60 && f[1] === "*" && f[4] === "*") {
          found = "minutes"; part("every").value = step[1];
        } else if (minute(f[0]) && f[1] === "*" && f[4] === "*") {
          found = "hourly"; part("minute").value = f[0];
        } else if (minute(f[0]) && hour(f[1]) && (f[4] === "*" || /^[0-6]$/.test(f[4]))) {
          part("time").value = pad(f[1]) + ":" + pad(f[0]);
          found = f[4] === "*" ? "daily" : "weekly";
          if (found === "weekly") part("weekday").value = f[4];
        }
      }
      mode.value = found;
      builder.setAttribute("data-mode", found);
    };

    var show = function (data) {
      reading.textContent = "";
      var text = document.createElement(data.valid ? "strong" : "span");
      if (!data.valid) text.className = "cron-bad";
      text.textContent = data.valid ? (data.text || "A valid schedule.") : data.error;
      reading.appendChild(text);
      if (data.valid && data.next) {
        var next = document.createElement("span");
        next.className = "muted";
        next.textContent = " · next run " + data.next;
        reading.appendChild(next);
      }
    };

    var describe = function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var url = input.getAttribute("data-describe-url") + "?cron=" + encodeURIComponent(input.value) +
          "&timezone=" + encodeURIComponent(zone ? zone.value : "");
        fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (data) { if (data) show(data); })
          .catch(function () {});
      }, 250);
    };

    builder.hidden = false;
    if (input.value.trim()) {
      toBuilder(input.value);
    } else {
      mode.value = "daily";
      builder.setAttribute("data-mode", "daily");
      input.value = fromBuilder();
    }
    describe();
    builder.addEventListener("input", function (event) {
      builder.setAttribute("data-mode", mode.value);
      var expression = fromBuilder();
      if (expression) {
        input.value = expression;
        describe();
      } else if (event.target === mode) {
        input.focus();
      }
    });
    input.addEventListener("input", function () { toBuilder(input.value); describe(); });
    if (zone) zone.addEventListener("input", describe);
  }

  // A run's log: poll the API from where the page left off until the run ends, then reload
  // once so times, exit code and buttons are current.
  var log = document.querySelector("pre[data-log-url]");
  if (log && log.getAttribute("data-follow") === "true") {
    var offset = parseInt(log.getAttribute("data-offset"), 10) || 0;
    var poll = function () {
      fetch(log.getAttribute("data-log-url") + "?offset=" + offset, { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
        .then(function (data) {
          if (data.text) {
            var atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
            log.appendChild(document.createTextNode(data.text));
            var empty = document.querySelector("[data-log-empty]");
            if (empty) empty.remove();
            if (atEnd) log.scrollTop = log.scrollHeight;
          }
          offset = data.next_offset;
          var status = data.status.replace(/^ENGINE_/, "").toLowerCase().replace("scheduling", "scheduled");
          var state = document.querySelector("[data-log-state]");
          if (state && status === "running") state.textContent = "Following live";
          document.querySelectorAll("[data-run-status]").forEach(function (badge) {
            badge.className = "badge run-status status-" + status;
            badge.textContent = status === "timedout" ? "timed out" : status;
          });
          if (data.finished && !data.text) {
            location.reload();
            return;
          }
          setTimeout(poll, data.text ? 200 : 1000);  // catch up quickly on a long log
        })
        .catch(function () { setTimeout(poll, 5000); });
    };
    log.scrollTop = log.scrollHeight;
    setTimeout(poll, 1000);
  }
})();

// A workload waiting for its runtime's build: follow the build log, reload once it is done.
(function () {
  var log = document.querySelector("pre[data-runtime-log]");
  if (!log) return;
  var offset = 0;
  var poll = function () {
    fetch(log.getAttribute("data-runtime-log") + "?offset=" + offset, { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
      .then(function (data) {
        if (data.text) {
          log.appendChild(document.createTextNode(data.text));
          log.scrollTop = log.scrollHeight;
        }
        offset = data.next_offset;
        if (data.state !== "building" && !data.text) {
          setTimeout(function () { location.reload(); }, 1500);
          return;
        }
        setTimeout(poll, data.text ? 300 : 1500);
      })
      .catch(function () { setTimeout(poll, 5000); });
  };
  poll();
})();

// Pages showing work in progress (a runtime being built) reload every few seconds.
(function () {
  var refresh = document.querySelector("[data-refresh]");
  if (!refresh) return;
  var seconds = parseInt(refresh.getAttribute("data-refresh"), 10) || 5;
  setTimeout(function () { location.reload(); }, seconds * 1000);
})();
