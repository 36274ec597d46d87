// Session page: follow the session's status and whether its editor answers; reload on a change
// (the server renders the badge and enables "Open JupyterLab" once it answers).
(function () {
  "use strict";
  const page = document.querySelector("[data-session-page]");
  if (!page) return;
  const url = page.dataset.statusUrl;
  const initial = page.dataset.status;
  const initialReady = page.dataset.ready === "true";
  let delay = 300;
  async function poll() {
    try {
      const answer = await fetch(url, { headers: { Accept: "application/json" } });
      if (answer.ok) {
        const state = await answer.json();
        if (state.status !== initial || state.ready !== initialReady) { window.location.reload(); return; }
      }
    } catch (e) { /* the server may be restarting: keep polling */ }
    // Quick while the editor starts, then slower: a ready session only needs to notice its end.
    delay = Math.min(delay * 1.5, initialReady ? 5000 : 1500);
    if (initial === "starting" || initial === "running" || initial === "stopping") setTimeout(poll, delay);
  }
  poll();
})();
