// Session page: follow the session's status; say when JupyterLab answers; reload on changes.
(function () {
  "use strict";
  const page = document.querySelector("[data-session-page]");
  if (!page) return;
  const url = page.dataset.statusUrl;
  const initial = page.dataset.status;
  const readyText = document.querySelector("[data-ready-text]");
  let delay = 300;
  async function poll() {
    try {
      const answer = await fetch(url, { headers: { Accept: "application/json" } });
      if (answer.ok) {
        const state = await answer.json();
        if (state.status !== initial) { window.location.reload(); return; }
        if (readyText) readyText.textContent = state.ready ? "JupyterLab is ready." : "Starting JupyterLab…";
        if (state.ready && readyText) page.dataset.ready = "true";
      }
    } catch (e) { /* the server may be restarting: keep polling */ }
    delay = Math.min(delay * 1.5, 5000);
    if (initial === "starting" || initial === "running" || initial === "stopping") setTimeout(poll, delay);
  }
  poll();
})();
