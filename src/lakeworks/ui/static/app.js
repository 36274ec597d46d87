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
