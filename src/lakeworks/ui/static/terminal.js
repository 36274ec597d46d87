// The session's terminal: xterm.js (vendored) on Jupyter's terminal websocket (terminado: a
// shell on a real PTY inside the session). The PTY's output arrives as it was written, escape
// sequences included, so colours and full-screen programs (top, vim, less) work; the page
// sends keystrokes as typed and the terminal's size whenever it changes (the PTY's rows and
// columns follow, so programs redraw to fit).
(function () {
  "use strict";
  const host = document.querySelector("[data-terminal]");
  if (!host || !window.Terminal) return;
  const state = document.querySelector("[data-terminal-state]");
  const term = new window.Terminal({
    cursorBlink: true, fontSize: 13, scrollback: 5000, convertEol: false,
    fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace",
    theme: { background: "#111827", foreground: "#e5e7eb" },
  });
  const fit = new window.FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(host);
  fit.fit();
  window.lakeworksTerminal = term; // for the page's tests and the browser console

  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}${host.dataset.socket}`);
  const send = (message) => socket.readyState === WebSocket.OPEN && socket.send(JSON.stringify(message));
  const sendSize = () => send(["set_size", term.rows, term.cols, host.clientHeight, host.clientWidth]);
  socket.onopen = () => { sendSize(); term.focus(); if (state) state.textContent = "connected"; };
  socket.onmessage = (event) => {
    const [kind, data] = JSON.parse(event.data);
    if (kind === "stdout") term.write(data);
    if (kind === "disconnect") { term.write("\r\n[the terminal ended]\r\n"); if (state) state.textContent = "ended"; }
  };
  socket.onclose = () => { if (state && state.textContent !== "ended") state.textContent = "disconnected"; };
  term.onData((data) => send(["stdin", data]));
  term.onResize(() => sendSize());
  let pending = 0;
  window.addEventListener("resize", () => {
    clearTimeout(pending);
    pending = setTimeout(() => fit.fit(), 100);
  });
})();
