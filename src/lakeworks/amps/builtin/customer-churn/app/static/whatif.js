// Re-score the customer when a value changes: POST the form's values to the app's /api/score
// and redraw the probability and the bars in the model's new order of importance.
(function () {
  var form = document.querySelector("[data-whatif]");
  if (!form) return;
  var numeric = ["tenure", "MonthlyCharges", "TotalCharges"];
  function values() {
    var body = {};
    form.querySelectorAll("select, input").forEach(function (el) {
      body[el.name] = numeric.indexOf(el.name) >= 0 ? Number(el.value) : el.value;
    });
    return body;
  }
  function draw(result) {
    var p = document.querySelector("[data-probability]");
    p.textContent = (100 * result.probability).toFixed(1) + "%";
    p.className = result.probability >= 0.5 ? "high" : "low";
    document.querySelector("[data-verdict]").textContent = result.prediction ? "will churn" : "will stay";
    var body = form.querySelector("tbody");
    result.bars.forEach(function (bar) {
      var row = body.querySelector('[data-feature="' + bar.feature + '"]');
      var span = row.querySelector(".bar");
      span.className = "bar " + (bar.share > 0 ? "up" : "down");
      span.style.width = bar.width + "%";
      row.querySelector(".share").textContent = (bar.share >= 0 ? "+" : "") + bar.share.toFixed(3);
      body.appendChild(row);
    });
    form.setAttribute("data-rescored", String(Number(form.getAttribute("data-rescored") || 0) + 1));
  }
  form.addEventListener("change", function () {
    fetch(form.getAttribute("data-score-url"), {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify(values()),
      credentials: "same-origin"
    }).then(function (r) { return r.json(); }).then(draw);
  });
})();
