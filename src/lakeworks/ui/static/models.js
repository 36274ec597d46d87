// Model page: the Test tab posts the input and shows the response; pages with work in
// progress refresh themselves.
(function () {
  "use strict";
  var form = document.querySelector("form[data-model-test]");
  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var status = document.querySelector("[data-test-status]");
      var output = document.querySelector("[data-test-output]");
      status.textContent = "Calling the model…";
      var started = performance.now();
      fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" })
        .then(function (response) {
          return response.text().then(function (text) {
            var shown = text;
            try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* not JSON */ }
            status.textContent = "HTTP " + response.status + " · " + Math.round(performance.now() - started) + " ms";
            output.textContent = shown;
            output.hidden = false;
          });
        })
        .catch(function (error) {
          status.textContent = "The call failed: " + error;
        });
    });
  }
  var page = document.querySelector("[data-refresh]");
  if (page) {
    var seconds = parseFloat(page.getAttribute("data-refresh")) || 3;
    setTimeout(function () {
      var active = document.activeElement;
      if (!active || !/^(INPUT|TEXTAREA)$/.test(active.tagName)) window.location.reload();
    }, seconds * 1000);
  }
})();
