// A minimal terminal: Jupyter's terminal websocket (a shell inside the session), rendered in a
// <pre>. Enough for commands and their output; full-screen programs (vim, top) need JupyterLab's.
(function () {
  "use strict";
  const screen = document.querySelector("[data-terminal]");
  if (!screen) return;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}${screen.dataset.socket}`);
  const MAX_CHARS = 200000;
  function render(text) {
    // Drop escape sequences (colours, bracketed paste, titles); apply backspaces and CRs.
    text = text.replace(/\u001b\][^\u0007]*\u0007/g, "").replace(/\u001b\[[0-9;?]*[A-Za-z]/g, "").replace(/\u001b[()][A-Z0-9]/g, "");
    let current = screen.textContent;
    for (const ch of text) {
      if (ch === "\b") current = current.slice(0, -1);
      else if (ch === "\r") continue;
      else if (ch === "\u0007") continue;
      else current += ch;
    }
    screen.textContent = current.length > MAX_CHARS ? current.slice(-MAX_CHARS) : current;
    screen.scrollTop = screen.scrollHeight;
  }
  socket.onmessage = (event) => {
    const [kind, data] = JSON.parse(event.data);
    if (kind === "stdout") render(data);
    if (kind === "disconnect") render("\n[the terminal ended]\n");
  };
  socket.onclose = () => render("\n[disconnected]\n");
  socket.onopen = () => screen.focus();
  const send = (data) => socket.readyState === WebSocket.OPEN && socket.send(JSON.stringify(["stdin", data]));
  const keys = { Enter: "\r", Backspace: "\u007f", Tab: "\t", Escape: "\u001b", ArrowUp: "\u001b[A", ArrowDown: "\u001b[B", ArrowRight: "\u001b[C", ArrowLeft: "\u001b[D" };
  screen.addEventListener("keydown", (event) => {
    if (event.ctrlKey && event.key.length === 1) {
      const code = event.key.toUpperCase().charCodeAt(0) - 64;
      if (code > 0 && code < 32) { send(String.fromCharCode(code)); event.preventDefault(); }
      return;
    }
    if (keys[event.key]) { send(keys[event.key]); event.preventDefault(); return; }
    if (event.key.length === 1 && !event.metaKey) { send(event.key); event.preventDefault(); }
  });
  screen.addEventListener("paste", (event) => { send(event.clipboardData.getData("text")); event.preventDefault(); });
})();
