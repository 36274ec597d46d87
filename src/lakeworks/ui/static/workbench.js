// The workbench: a project file on the left (CodeMirror 5, vendored), a console (a Jupyter
// kernel in the session) on the right. Protocol with the server: see services/console.py.
// As in CML's workbench, Ctrl/Cmd+Enter runs the selection, or the line the cursor is on and
// moves to the next line; Ctrl/Cmd+S saves; Ctrl/Cmd+Shift+Enter runs the whole file.
(function () {
  "use strict";
  const root = document.querySelector("[data-workbench]");
  if (!root) return;
  const project = root.dataset.project;
  const csrf = root.dataset.csrf;
  const $ = (sel) => root.querySelector(sel);
  const code = $("[data-code]"), output = $("[data-output]"), input = $("[data-input]");
  const fileSelect = $("[data-file]"), fileState = $("[data-file-state]"), kernelState = $("[data-kernel-state]");
  let socket = null, ready = false;
  // The editor: CodeMirror over the textarea (kept in step with it, so forms and tests can
  // read the textarea); the plain textarea stays usable if the vendored script did not load.
  const editor = window.CodeMirror ? window.CodeMirror.fromTextArea(code, {
    mode: "python", lineNumbers: true, indentUnit: 4, tabSize: 4, indentWithTabs: false,
    matchBrackets: true, autoCloseBrackets: true, viewportMargin: 50,
    extraKeys: {
      "Ctrl-Enter": () => runSelection(), "Cmd-Enter": () => runSelection(),
      "Shift-Ctrl-Enter": () => runFile(), "Shift-Cmd-Enter": () => runFile(),
      "Ctrl-S": () => save(), "Cmd-S": () => save(),
      Tab: (cm) => cm.somethingSelected() ? cm.execCommand("indentMore") : cm.replaceSelection("    ", "end"),
      "Shift-Tab": (cm) => cm.execCommand("indentLess"),
    },
  }) : null;
  if (editor) editor.on("change", () => editor.save());
  const text = () => (editor ? editor.getValue() : code.value);
  function setText(value) {
    if (editor) { editor.setValue(value); editor.clearHistory(); editor.save(); } else code.value = value;
  }
  const inputHistory = []; let historyAt = 0;
  const cells = new Map(); // parent msg id -> output element

  function filesUrl(path, verb) {
    const encoded = path.split("/").map(encodeURIComponent).join("/");
    return `/api/v2/projects/${project}/files/${encoded}${verb || ""}`;
  }
  async function load(path) {
    if (!path) { setText(""); return; }
    fileState.textContent = "loading…";
    const answer = await fetch(filesUrl(path, ":download"));
    setText(answer.ok ? await answer.text() : "");
    fileState.textContent = answer.ok ? "" : "could not load the file";
    code.dataset.path = path;
    window.history.replaceState(null, "", `#${encodeURIComponent(path)}`);
  }
  async function save() {
    const path = fileSelect.value;
    if (!path) { fileState.textContent = "choose a file first"; return false; }
    const answer = await fetch(filesUrl(path), { method: "PUT", body: text(), headers: { "X-CSRF-Token": csrf } });
    fileState.textContent = answer.ok ? "saved" : "could not save";
    return answer.ok;
  }

  function cellFor(parent) {
    let cell = cells.get(parent);
    if (!cell) {
      cell = document.createElement("div");
      cell.className = "wb-cell";
      output.appendChild(cell);
      if (parent) cells.set(parent, cell);
    }
    return cell;
  }
  function append(parent, node) {
    const cell = cellFor(parent);
    cell.appendChild(node);
    output.scrollTop = output.scrollHeight;
  }
  function textBlock(text, cls) {
    const pre = document.createElement("pre");
    pre.className = cls || "";
    pre.textContent = text;
    return pre;
  }
  function stripAnsi(text) { return text.replace(/\u001b\[[0-9;]*[A-Za-z]/g, ""); }
  function richBlock(data) {
    if (data["text/html"]) {
      // HTML from the kernel goes into a frame without scripts: tables render, code does not run.
      const frame = document.createElement("iframe");
      frame.className = "wb-html";
      frame.setAttribute("sandbox", "allow-same-origin");
      frame.setAttribute("title", "Output");
      frame.style.border = "0"; frame.style.width = "100%";
      frame.srcdoc = `<!doctype html><style>body{margin:0;font:12px system-ui,sans-serif}table{border-collapse:collapse}th,td{border:1px solid #d0d5dd;padding:2px 6px;text-align:right}</style>${data["text/html"]}`;
      frame.addEventListener("load", () => {
        try { frame.style.height = (frame.contentDocument.documentElement.scrollHeight + 4) + "px"; } catch (e) { frame.style.height = "300px"; }
      });
      return frame;
    }
    for (const mime of ["image/png", "image/jpeg", "image/gif"]) {
      if (data[mime]) {
        const img = document.createElement("img");
        img.alt = "Output image"; img.src = `data:${mime};base64,${data[mime]}`;
        return img;
      }
    }
    if (data["image/svg+xml"]) {
      const img = document.createElement("img");
      img.alt = "Output image"; img.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(data["image/svg+xml"]);
      return img;
    }
    return textBlock(data["text/plain"] || "");
  }

  function handle(msg) {
    const c = msg.content || {};
    switch (msg.type) {
      case "ready": ready = true; kernelState.textContent = "ready"; root.dataset.ready = "true"; break;
      case "restarting": ready = false; kernelState.textContent = "restarting…"; break;
      case "status": if (ready) kernelState.textContent = c.execution_state === "busy" ? "busy" : "ready"; break;
      case "execute_input": append(msg.parent, textBlock(c.code, "wb-in")); break;
      case "stream": append(msg.parent, textBlock(c.text, c.name === "stderr" ? "wb-stderr" : "")); break;
      case "display_data": case "execute_result": append(msg.parent, richBlock(c.data || {})); break;
      case "error": append(msg.parent, textBlock(stripAnsi((c.traceback || [c.ename + ": " + c.evalue]).join("\n")), "wb-error")); break;
      case "refused": append("", textBlock(c.message || msg.message, "wb-error")); break;
      case "transcript": // the console's history, kept by the server: shown again on return
        output.textContent = ""; cells.clear();
        for (const old of msg.messages || []) handle(old);
        break;
      case "cleared": output.textContent = ""; cells.clear(); break;
      default: break;
    }
  }
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}${root.dataset.socket}`);
    socket.onmessage = (event) => handle(JSON.parse(event.data));
    socket.onclose = (event) => {
      ready = false;
      kernelState.textContent = event.reason ? `disconnected: ${event.reason}` : "disconnected — reconnecting…";
      if (event.code < 4000) setTimeout(connect, 2000);
    };
  }
  function run(source) {
    if (!source.trim()) return;
    if (!socket || socket.readyState !== WebSocket.OPEN) { kernelState.textContent = "not connected yet"; return; }
    socket.send(JSON.stringify({ op: "execute", code: source }));
  }
  function runFile() { run(text()); }
  function runSelection() {
    if (!editor) { run(selection()); return; }
    if (editor.somethingSelected()) { run(editor.getSelection()); return; }
    const line = editor.getCursor().line;
    run(editor.getLine(line));
    // The next line, as CML's workbench does (a new one at the end of the file).
    if (line === editor.lastLine()) editor.replaceRange("\n", { line, ch: editor.getLine(line).length });
    editor.setCursor({ line: line + 1, ch: 0 });
  }
  function selection() {
    const start = code.selectionStart, end = code.selectionEnd;
    if (start !== end) return code.value.slice(start, end);
    // No selection: the line the cursor is on.
    const from = code.value.lastIndexOf("\n", start - 1) + 1;
    let to = code.value.indexOf("\n", start); if (to < 0) to = code.value.length;
    return code.value.slice(from, to);
  }

  fileSelect.addEventListener("change", () => load(fileSelect.value));
  $("[data-save]").addEventListener("click", save);
  $("[data-run-file]").addEventListener("click", runFile);
  $("[data-run-selection]").addEventListener("click", () => { runSelection(); if (editor) editor.focus(); });
  $("[data-interrupt]").addEventListener("click", () => socket && socket.send(JSON.stringify({ op: "interrupt" })));
  $("[data-restart]").addEventListener("click", () => socket && socket.send(JSON.stringify({ op: "restart" })));
  $("[data-clear]").addEventListener("click", () => {
    output.textContent = ""; cells.clear();
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ op: "clear" }));
  });
  code.addEventListener("keydown", (event) => { // the plain textarea, without CodeMirror
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); runSelection(); }
    if (event.key === "s" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); save(); }
    if (event.key === "Tab") {
      event.preventDefault();
      const s = code.selectionStart;
      code.setRangeText("    ", s, code.selectionEnd, "end");
    }
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      const source = input.value;
      if (source.trim()) { inputHistory.push(source); historyAt = inputHistory.length; }
      input.value = "";
      run(source);
    } else if (event.key === "ArrowUp" && !input.value.includes("\n") && historyAt > 0) {
      historyAt -= 1; input.value = inputHistory[historyAt]; event.preventDefault();
    } else if (event.key === "ArrowDown" && !input.value.includes("\n") && historyAt < inputHistory.length) {
      historyAt += 1; input.value = inputHistory[historyAt] || ""; event.preventDefault();
    }
  });
  const initial = decodeURIComponent(location.hash.slice(1));
  if (initial && [...fileSelect.options].some((o) => o.value === initial)) { fileSelect.value = initial; load(initial); }
  connect();
})();
