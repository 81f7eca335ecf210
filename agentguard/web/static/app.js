// agentguard web console: live queue, answers through the JSON API. No inline script (CSP);
// every value from the server is put in the page with textContent, never as HTML.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
let clockSkewMs = 0; // server clock minus browser clock

async function api(method, url, body) {
  const init = { method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf() } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  let data = {};
  try { data = await response.json(); } catch (e) { data = {}; }
  if (!response.ok) throw new Error(data.error || ("HTTP " + response.status));
  return data;
}

function flash(text, kind) {
  const box = document.getElementById("flash");
  if (!box) return;
  box.textContent = text;
  box.className = kind || "ok";
}

function shortDuration(seconds) {
  const s = Math.max(Math.floor(seconds), 0);
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s";
  if (s < 86400) return Math.floor(s / 3600) + "h" + String(Math.floor(s % 3600 / 60)).padStart(2, "0") + "m";
  return Math.floor(s / 86400) + "d";
}

function serverNow() { return Date.now() + clockSkewMs; }

// Characters no one sees (bidi controls, zero-width, tag, control characters): shown as marks, as
// the server's pages show them (agentguard/approval/_shown.py), so the row reads as the call runs.
const HIDDEN = /[\p{Cf}\p{Cc}\p{Co}\p{Cn}\p{Cs}\p{Zl}\p{Zp}\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u3164\uffa0\ufe00-\ufe0f\u{e0100}-\u{e01ef}]/gu;

// As approval/_shown.py: a non-Latin letter or digit in a word that also holds ASCII letters (a
// Cyrillic і in gіthub.com) reads as the Latin one it looks like, so it is marked too.
const WORD = /[\p{L}\p{N}\p{M}._-]+/gu;
const LETTER = /[\p{L}\p{N}]/gu;
const LATIN = /^\p{Script=Latin}$/u;
const FULLWIDTH = /^[\uff00-\uffef]$/u;

function mark(ch) {
  return "\u27e6U+" + ch.codePointAt(0).toString(16).toUpperCase().padStart(4, "0") + "\u27e7";
}

function foreign(ch) {
  return ch.codePointAt(0) > 127 && !(LATIN.test(ch) && !FULLWIDTH.test(ch));
}

function marked(text) {
  const shown = text.replace(WORD, (word) => /[A-Za-z]/.test(word) && /[^\x00-\x7f]/.test(word)
    ? word.replace(LETTER, (ch) => foreign(ch) ? mark(ch) : ch) : word);
  return shown.replace(HIDDEN, (ch) => (ch === "\n" || ch === "\t") ? ch : mark(ch));
}

function keyArgument(args) {
  const keys = ["command", "cmd", "path", "file", "filename", "file_path", "directory", "dir", "url", "uri",
    "code", "query", "pattern"];
  let value = null;
  for (const k of keys) { if (k in args) { value = args[k]; break; } }
  if (value === null) { const vs = Object.values(args); if (vs.length) value = vs[0]; }
  let text = value === null ? "" : (typeof value === "string" ? value : JSON.stringify(value));
  text = marked(text).split(/\s+/).join(" ").trim();
  return text.length > 80 ? text.slice(0, 79) + "…" : text;
}

function cell(label, text, cls) {
  const td = document.createElement("td");
  td.dataset.label = label;
  if (cls) td.className = cls;
  td.textContent = text;
  return td;
}

function tick() {
  const now = serverNow();
  for (const row of document.querySelectorAll("[data-deadline]")) {
    const age = (now - Date.parse(row.dataset.submitted)) / 1000;
    const left = (Date.parse(row.dataset.deadline) - now) / 1000;
    const ageCell = row.querySelector(".age");
    const leftCell = row.querySelector(".left");
    if (ageCell) ageCell.textContent = shortDuration(age);
    if (leftCell) {
      leftCell.textContent = left > 0 ? shortDuration(left) : "0s";
      leftCell.classList.toggle("urgent", left < 30);
    }
    const waiting = document.getElementById("waiting");
    if (waiting && row.id === "request" && row.dataset.state === "pending") {
      waiting.textContent = shortDuration(age) + ", " + (left > 0 ? shortDuration(left) + " left" : "deadline passed");
    }
  }
}

function renderQueue(data) {
  const table = document.getElementById("queue");
  const count = document.getElementById("pending-count");
  if (count) count.textContent = data.requests.length ? String(data.requests.length) : "";
  if (!table) return;
  const body = table.tBodies[0];
  const focusedId = document.activeElement && document.activeElement.closest("tr")
    ? document.activeElement.closest("tr").dataset.id : null;
  const rows = [];
  // A host picks its ids (another host's, one starting or looking alike): where the queue holds more
  // than one host role's requests each is shown as id@role (short_refs does the same on the server),
  // and every row is addressed by its ref, never by the bare id.
  const hosts = new Set(data.requests.map((q) => q.db_role)).size > 1;
  for (const q of data.requests) {
    const tr = document.createElement("tr");
    tr.dataset.id = q.ref;
    tr.dataset.submitted = q.submitted_at;
    tr.dataset.deadline = q.deadline;
    const idCell = document.createElement("td");
    idCell.dataset.label = "id";
    const link = document.createElement("a");
    link.href = "/requests/" + encodeURIComponent(q.ref);
    link.textContent = q.id.slice(0, 8) + (hosts ? "@" + (q.db_role || "") : "");
    idCell.appendChild(link);
    tr.append(idCell, cell("agent", q.agent), cell("tool", q.tool, "tool"),
      cell("argument", keyArgument(q.arguments || {}), "arg"), cell("age", "", "age"), cell("left", "", "left"));
    rows.push(tr);
  }
  body.replaceChildren(...rows);
  document.getElementById("empty").hidden = data.requests.length > 0;
  if (focusedId) {
    const again = body.querySelector('tr[data-id="' + CSS.escape(focusedId) + '"] a');
    if (again) again.focus();
  }
  tick();
}

function onDetailQueue(data) {
  const box = document.getElementById("request");
  if (!box || box.dataset.state !== "pending") return;
  if (!data.requests.some((q) => q.ref === box.dataset.id)) refreshDetailState(box.dataset.id);
}

async function refreshDetailState(id) {
  try {
    const q = await api("GET", "/api/requests/" + encodeURIComponent(id));
    showAnswered(q);
  } catch (e) { flash(e.message, "error"); }
}

function showAnswered(q) {
  const box = document.getElementById("request");
  box.dataset.state = q.state;
  const state = document.getElementById("state");
  let text = q.state;
  if (q.approver) text += " by " + q.approver + " via " + q.channel;
  if (q.answer_reason) text += ": " + q.answer_reason;
  state.textContent = text;
  state.className = "state-" + q.state;
  const actions = document.querySelector(".actions");
  if (actions) actions.remove();
  const waiting = document.getElementById("waiting");
  if (waiting) waiting.textContent = "answered";
}

function subscribe() {
  if (!document.getElementById("pending-count")) return;
  const source = new EventSource("/api/events");
  source.addEventListener("queue", (event) => {
    const data = JSON.parse(event.data);
    clockSkewMs = Date.parse(data.now) - Date.now();
    renderQueue(data);
    onDetailQueue(data);
  });
}

// -- the detail page's answers -------------------------------------------------------------

function openPanel(id) {
  for (const p of document.querySelectorAll(".panel")) p.hidden = p.id !== id;
  const panel = document.getElementById(id);
  const first = panel && panel.querySelector("input:not([disabled]):not([type=radio]), textarea, input[type=radio]:checked");
  if (first) first.focus();
  if (id === "always-form") preview();
}

function closePanels() { for (const p of document.querySelectorAll(".panel")) p.hidden = true; }

function alwaysChoice() {
  const form = document.getElementById("always-form");
  const scope = form.querySelector("input[name=scope]:checked");
  return {
    scope: scope ? scope.value : "call",
    pattern: form.querySelector("#always-pattern").value,
    expires: form.querySelector("#always-expires").value,
  };
}

let previewTimer = null;
// The choice whose rule is on screen, and that rule's condition: approving sends it, and the server
// refuses a grant that differs (a quick Enter must not store a pattern the preview never showed).
let shown = null;
async function showPreview() {
  const id = document.getElementById("request").dataset.id;
  const out = document.getElementById("rule-preview");
  const err = document.getElementById("always-error");
  const choice = alwaysChoice();
  shown = null;
  try {
    const data = await api("POST", "/api/requests/" + encodeURIComponent(id) + "/preview-grant", choice);
    out.textContent = data.rule;
    err.textContent = "";
    if (JSON.stringify(alwaysChoice()) === JSON.stringify(choice)) {
      shown = { key: JSON.stringify(choice), condition: data.grant.condition };
    }
  } catch (e) {
    out.textContent = "";
    err.textContent = e.message;
  }
}
function preview() {
  if (shown && shown.key === JSON.stringify(alwaysChoice())) return;  // e.g. the change event on blur
  shown = null;
  clearTimeout(previewTimer);
  previewTimer = setTimeout(showPreview, 150);
}

async function answer(kind, body, errorBox) {
  const id = document.getElementById("request").dataset.id;
  try {
    const data = await api("POST", "/api/requests/" + encodeURIComponent(id) + "/" + kind, body);
    showAnswered(data.request);
    flash(data.grant ? "Approved; grant " + data.grant.id.slice(0, 8) + ": " + data.grant.rule
      : (data.request.state === "denied" ? "Denied." : "Approved."), "ok");
  } catch (e) {
    if (errorBox) errorBox.textContent = e.message;
    flash(e.message, "error");
  }
}

function setUpDetail() {
  const box = document.getElementById("request");
  if (!box) return;
  const approve = document.getElementById("approve");
  if (approve) approve.addEventListener("click", () => answer("approve", {}));
  for (const b of document.querySelectorAll("[data-open]")) b.addEventListener("click", () => openPanel(b.dataset.open));
  for (const b of document.querySelectorAll("[data-close]")) b.addEventListener("click", closePanels);
  const deny = document.getElementById("deny-form");
  if (deny) deny.addEventListener("submit", (e) => {
    e.preventDefault();
    const reason = document.getElementById("deny-reason").value.trim();
    if (!reason) { flash("A denial needs a reason: the agent is told it.", "error"); return; }
    answer("deny", { reason });
  });
  const always = document.getElementById("always-form");
  if (always) {
    always.addEventListener("input", preview);
    always.addEventListener("change", preview);
    always.addEventListener("submit", (e) => {
      e.preventDefault();
      const choice = alwaysChoice();
      if (!shown || shown.key !== JSON.stringify(choice)) {
        clearTimeout(previewTimer);
        showPreview();
        flash("Check the rule shown, then approve.", "error");
        return;
      }
      answer("approve", { always: { ...choice, condition: shown.condition } }, document.getElementById("always-error"));
    });
  }
  const edit = document.getElementById("edit-form");
  if (edit) edit.addEventListener("submit", (e) => {
    e.preventDefault();
    const err = document.getElementById("edit-error");
    let args;
    try { args = JSON.parse(document.getElementById("edit-json").value); } catch (x) {
      err.textContent = "Not valid JSON: " + x.message; return;
    }
    if (args === null || typeof args !== "object" || Array.isArray(args)) {
      err.textContent = "The arguments must be a JSON object: { ... }"; return;
    }
    answer("approve", { arguments: args }, err);
  });
}

function setUpGrants() {
  for (const b of document.querySelectorAll("button.revoke")) {
    b.addEventListener("click", async () => {
      const id = b.dataset.grant;
      if (!window.confirm("Revoke grant " + id.slice(0, 8) + "? The policy stops applying it at once.")) return;
      try {
        await api("POST", "/api/grants/" + encodeURIComponent(id) + "/revoke");
        const item = b.closest(".grant");
        item.querySelector("[class^=state-]").textContent = "revoked";
        b.remove();
        flash("Revoked grant " + id.slice(0, 8) + ".", "ok");
      } catch (e) { flash(e.message, "error"); }
    });
  }
}

function typing(target) {
  return target.closest("input, textarea, select, [contenteditable]") !== null;
}

function keys(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === "Escape") { closePanels(); return; }
  if (typing(event.target)) return;
  const detailBox = document.getElementById("request");
  const pending = detailBox && detailBox.dataset.state === "pending";
  const go = { g: "/grants", l: "/audit", q: "/" };
  if (pending && event.key === "a") { event.preventDefault(); answer("approve", {}); return; }
  if (pending && event.key === "A") { event.preventDefault(); openPanel("always-form"); return; }
  if (pending && event.key === "d") { event.preventDefault(); openPanel("deny-form"); return; }
  if (pending && event.key === "e") { event.preventDefault(); openPanel("edit-form"); return; }
  if (event.key in go) { window.location.assign(go[event.key]); return; }
  const links = [...document.querySelectorAll("#queue tbody a")];
  if ((event.key === "j" || event.key === "k") && links.length) {
    const at = links.indexOf(document.activeElement);
    const next = event.key === "j" ? Math.min(at + 1, links.length - 1) : Math.max(at - 1, 0);
    links[at === -1 ? 0 : next].focus();
    event.preventDefault();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const table = document.getElementById("queue");
  if (table && table.dataset.now) clockSkewMs = Date.parse(table.dataset.now) - Date.now();
  const logout = document.getElementById("logout");
  if (logout) logout.addEventListener("click", async () => {
    try { await api("POST", "/logout"); } finally { window.location.assign("/login"); }
  });
  setUpDetail();
  setUpGrants();
  subscribe();
  document.addEventListener("keydown", keys);
  tick();
  setInterval(tick, 1000);
  document.body.dataset.ready = "1"; // handlers attached (tests wait for this)
});
