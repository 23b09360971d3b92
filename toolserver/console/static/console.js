// toolserver console: plain JavaScript, no build step, nothing fetched from another host.
// The API key is sent once (the login form); afterwards the browser's session cookie, which
// scripts cannot read, authenticates /console/api/* and /calls.
"use strict";

const ROOT = document.body.dataset.root || "";
const VIEWS = ["tools", "calls", "connect", "status"];
const state = { tools: [], selected: null, cursor: null, tail: null, statusTimer: null };

// -- small helpers -----------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key in el && key !== "list") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const $ = (id) => document.getElementById(id);
const pretty = (value) => JSON.stringify(value, null, 2);
const badge = (outcome) => h("span", { class: `badge ${outcome}` }, outcome);

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const init = { credentials: "same-origin", ...options, headers: { ...(options.headers || {}) } };
  if (init.body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.headers["x-toolserver-console"] = "1";
  }
  const response = await fetch(ROOT + path, init);
  if (response.status === 401) {
    showLogin();
    throw new Unauthorized("not logged in");
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const message = body && body.error ? body.error.message : `HTTP ${response.status}`;
    throw new Error(message);
  }
  return body;
}

function localTime(iso) {
  const d = new Date(iso);
  return d.toLocaleString(undefined, { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

// -- login and navigation ----------------------------------------------------------------------

function showLogin() {
  stopTail();
  clearInterval(state.statusTimer);
  for (const view of VIEWS) $(view).hidden = true;
  $("nav").hidden = true;
  $("who").hidden = true;
  $("login").hidden = false;
  $("api-key").focus();
}

async function start() {
  let session;
  try {
    session = await api("/console/api/session");
  } catch (err) {
    if (!(err instanceof Unauthorized)) $("login-error").textContent = err.message;
    return;
  }
  $("login").hidden = true;
  $("nav").hidden = false;
  $("who").hidden = !session.auth;
  $("key-id").textContent = session.keyId ? `key ${session.keyId}` : "";
  await loadTools();
  route();
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  const key = $("api-key").value;
  try {
    await api("/console/login", { method: "POST", body: JSON.stringify({ apiKey: key }) });
  } catch (err) {
    $("login-error").textContent = err.message;
    return;
  }
  $("api-key").value = "";
  start();
});

$("logout").addEventListener("click", async () => {
  await fetch(ROOT + "/console/logout", { method: "POST", credentials: "same-origin" });
  showLogin();
});

function route() {
  if (!$("login").hidden) return;
  const [view, ...rest] = (location.hash.slice(1) || "tools").split("/");
  const name = VIEWS.includes(view) ? view : "tools";
  for (const v of VIEWS) $(v).hidden = v !== name;
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("active", link.dataset.view === name);
  }
  const arg = rest.length ? decodeURIComponent(rest.join("/")) : null;
  if (name !== "calls") stopTail();
  clearInterval(state.statusTimer);
  if (name === "tools") showTool(arg || (state.selected && state.selected.name) || (state.tools[0] && state.tools[0].name));
  if (name === "calls") openCalls(arg);
  if (name === "connect") loadConnect();
  if (name === "status") {
    loadStatus();
    state.statusTimer = setInterval(loadStatus, 5000);  // numbers move while the page is open
  }
}

window.addEventListener("hashchange", route);

// -- Tools -------------------------------------------------------------------------------------

async function loadTools() {
  const body = await api("/console/api/tools");
  state.tools = body.tools;
  const select = document.querySelector("#call-filters select[name=tool]");
  select.replaceChildren(h("option", { value: "" }, "any"), ...state.tools.map((t) => h("option", {}, t.name)));
  renderToolList();
}

function renderToolList() {
  const filter = $("tool-filter").value.trim().toLowerCase();
  const items = state.tools
    .filter((t) => !filter || t.name.toLowerCase().includes(filter) || t.plugin.toLowerCase().includes(filter))
    .map((t) =>
      h("li", {}, h("a", {
        href: `#tools/${encodeURIComponent(t.name)}`,
        class: state.selected && state.selected.name === t.name ? "active" : "",
        "data-tool": t.name,
      }, t.name, h("small", {}, t.plugin))));
  $("tool-list").replaceChildren(...items);
}

$("tool-filter").addEventListener("input", renderToolList);

function unwrap(schema) {
  // Optional[X] is {"anyOf": [X, {"type": "null"}]}: the form edits X.
  if (schema && Array.isArray(schema.anyOf)) {
    const real = schema.anyOf.filter((s) => s.type !== "null");
    if (real.length === 1) return { ...real[0], description: schema.description || real[0].description, default: schema.default };
  }
  return schema || {};
}

function fieldFor(name, rawSchema, required) {
  const schema = unwrap(rawSchema);
  const id = `arg-${name}`;
  const title = [name, required ? h("span", { class: "req", title: "required" }, " *") : null];
  const hint = schema.description ? h("span", { class: "muted" }, schema.description) : null;
  let input;
  let kind = "json";
  if (Array.isArray(schema.enum)) {
    kind = "enum";
    input = h("select", { id, name }, required ? null : h("option", { value: "" }, "(not set)"),
      ...schema.enum.map((v) => h("option", { value: JSON.stringify(v) }, String(v))));
  } else if (schema.type === "boolean") {
    kind = "boolean";
    input = h("select", { id, name }, required ? null : h("option", { value: "" }, "(not set)"),
      h("option", { value: "true" }, "true"), h("option", { value: "false" }, "false"));
  } else if (schema.type === "integer" || schema.type === "number") {
    kind = schema.type;
    input = h("input", { id, name, type: "number", step: schema.type === "integer" ? "1" : "any", min: schema.minimum, max: schema.maximum });
  } else if (schema.type === "string") {
    kind = "string";
    const type = schema.format === "date" ? "date" : schema.format === "email" ? "email" : "text";
    input = h("input", { id, name, type, placeholder: schema.examples ? String(schema.examples[0]) : "" });
  } else {
    input = h("textarea", { id, name, placeholder: schema.type === "array" ? "[...]" : "{...} (JSON)" });
  }
  if (schema.default !== undefined && schema.default !== null && kind !== "json") {
    input.value = kind === "enum" ? JSON.stringify(schema.default) : String(schema.default);
  }
  input.dataset.kind = kind;
  input.dataset.required = required ? "1" : "";
  return h("label", { for: id, class: kind === "json" ? "wide" : "" }, h("span", {}, ...title), input, hint);
}

function collectArguments(form) {
  const args = {};
  for (const input of form.querySelectorAll("[data-kind]")) {
    const value = input.value;
    if (value === "" && !input.dataset.required) continue;
    switch (input.dataset.kind) {
      case "enum": args[input.name] = value === "" ? "" : JSON.parse(value); break;
      case "boolean": args[input.name] = value === "true"; break;
      case "integer": case "number": {
        const n = Number(value);
        args[input.name] = value !== "" && Number.isFinite(n) ? n : value;
        break;
      }
      case "string": args[input.name] = value; break;
      default:
        try { args[input.name] = JSON.parse(value); } catch { args[input.name] = value; }
    }
  }
  return args;
}

function showTool(name) {
  const tool = state.tools.find((t) => t.name === name);
  if (!tool) return;
  state.selected = tool;
  renderToolList();
  const props = tool.inputSchema.properties || {};
  const required = new Set(tool.inputSchema.required || []);
  const form = h("form", { id: "try-form", class: "try" },
    h("div", { class: "form-grid" }, ...Object.entries(props).map(([n, s]) => fieldFor(n, s, required.has(n)))),
    h("details", {}, h("summary", {}, "Edit the arguments as JSON instead"),
      h("textarea", { id: "raw-arguments", placeholder: '{"name": "value"} - used instead of the fields when not empty' })),
    h("div", { class: "actions" },
      h("label", {}, "callId (optional)", h("input", { id: "try-call-id", type: "text", placeholder: "console_…" })),
      h("button", { type: "submit", id: "try-call" }, `Call ${tool.name}`)));
  const answer = h("div", { id: "try-answer" });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let args;
    const raw = $("raw-arguments").value.trim();
    if (raw) {
      try { args = JSON.parse(raw); } catch (err) {
        answer.replaceChildren(h("p", { class: "error" }, `The JSON arguments do not parse: ${err.message}`));
        return;
      }
    } else {
      args = collectArguments(form);
    }
    const callId = $("try-call-id").value.trim() || undefined;
    $("try-call").disabled = true;
    answer.replaceChildren(h("p", { class: "muted" }, "Calling…"));
    try {
      const out = await api(`/console/api/tools/${encodeURIComponent(tool.name)}`, {
        method: "POST", body: JSON.stringify({ arguments: args, callId }),
      });
      renderAnswer(answer, out);
    } catch (err) {
      if (!(err instanceof Unauthorized)) answer.replaceChildren(h("p", { class: "error" }, err.message));
    } finally {
      $("try-call").disabled = false;
    }
  });
  $("tool-detail").replaceChildren(
    h("h1", {}, tool.name),
    h("p", { class: "muted" }, `plugin ${tool.plugin} · timeout ${tool.timeoutSeconds} s${tool.sideEffects ? " · side effects" : ""}`),
    h("p", { class: "desc" }, tool.description),
    h("h2", {}, "Try it"), form, answer,
    h("details", {}, h("summary", {}, "Input schema"), h("pre", {}, pretty(tool.inputSchema))),
    tool.outputSchema ? h("details", {}, h("summary", {}, "Output schema"), h("pre", {}, pretty(tool.outputSchema))) : null);
}

function renderAnswer(target, out) {
  const outcome = out.ok ? (out.fallbackFor ? "fallback" : "ok") : "error";
  const entry = out.entry;
  target.replaceChildren(
    h("h3", {}, "Answer ", badge(outcome)),
    h("pre", { id: "try-result" }, pretty(out.ok ? out.value : { error: out.error })),
    h("h3", {}, "Log line"),
    entry
      ? h("pre", { id: "try-log" }, logLine(entry))
      : h("p", { class: "muted" }, "The call log is off (TOOLSERVER_CALL_LOG_ENABLED=false)."),
    h("p", {}, h("a", { href: `#calls/${encodeURIComponent(out.callId)}`, id: "try-timeline" }, `Open the timeline of ${out.callId}`)));
}

function logLine(entry) {
  const head = `${entry.time} ${entry.surface} ${entry.name} callId=${entry.callId} outcome=${entry.outcome}` +
    (entry.errorKind ? ` error_kind=${entry.errorKind}` : "") + ` duration_ms=${entry.durationMs}`;
  return `${head}\narguments ${JSON.stringify(entry.arguments)}\nresult    ${JSON.stringify(entry.result)}`;
}

// -- Calls -------------------------------------------------------------------------------------

function filterParams() {
  const form = $("call-filters");
  const params = new URLSearchParams();
  for (const field of ["callId", "tool", "surface", "outcome"]) {
    const value = form.elements[field].value.trim();
    if (value) params.set(field, value);
  }
  for (const field of ["since", "until"]) {
    const value = form.elements[field].value;
    if (value) params.set(field, new Date(value).toISOString());
  }
  return params;
}

function callRow(entry, fresh) {
  return h("tr", { class: fresh ? "fresh" : "", "data-entry": entry.id },
    h("td", { class: "mono", title: entry.time }, localTime(entry.time)),
    h("td", {}, entry.surface),
    h("td", {}, entry.name),
    h("td", { class: "mono" }, entry.callId
      ? h("a", { href: `#calls/${encodeURIComponent(entry.callId)}`, class: "call-link" }, entry.callId)
      : "—"),
    h("td", {}, badge(entry.outcome), entry.errorKind ? ` ${entry.errorKind}` : ""),
    h("td", { class: "num" }, entry.durationMs.toFixed(1)));
}

async function loadCalls(append) {
  const params = filterParams();
  if (append && state.cursor) params.set("cursor", state.cursor);
  let body;
  try {
    body = await api(`/calls?${params}`);
    $("calls-notice").hidden = true;
  } catch (err) {
    if (err instanceof Unauthorized) return;
    $("calls-notice").textContent = err.message.includes("404") || err.message.includes("Not Found")
      ? "The call log is off on this server (TOOLSERVER_CALL_LOG_ENABLED=false)." : err.message;
    $("calls-notice").hidden = false;
    return;
  }
  const rows = body.calls.map((entry) => callRow(entry, false));
  if (append) $("call-rows").append(...rows); else $("call-rows").replaceChildren(...rows);
  state.cursor = body.nextCursor;
  $("more").hidden = !body.nextCursor;
}

async function openCalls(callId) {
  await loadCalls(false);
  if ($("live").checked) startTail();
  if (callId) await showTimeline(callId); else $("timeline").hidden = true;
}

$("call-filters").addEventListener("submit", (event) => {
  event.preventDefault();
  loadCalls(false);
  if ($("live").checked) startTail();
});
$("more").addEventListener("click", () => loadCalls(true));
$("live").addEventListener("change", () => ($("live").checked ? startTail() : stopTail()));

function startTail() {
  stopTail();
  const source = new EventSource(`${ROOT}/calls?${filterParams()}`, { withCredentials: true });
  source.addEventListener("open", () => { $("live-state").textContent = "live"; });
  source.addEventListener("call", (event) => {
    const entry = JSON.parse(event.data);
    $("call-rows").prepend(callRow(entry, true));
  });
  source.addEventListener("error", () => { $("live-state").textContent = "reconnecting…"; });
  state.tail = source;
}

function stopTail() {
  if (state.tail) state.tail.close();
  state.tail = null;
  $("live-state").textContent = "";
}

async function showTimeline(callId) {
  const target = $("timeline");
  target.hidden = false;
  let body;
  try {
    body = await api(`/calls/${encodeURIComponent(callId)}`);
  } catch (err) {
    if (!(err instanceof Unauthorized)) target.replaceChildren(h("h2", {}, `Timeline of ${callId}`), h("p", { class: "muted" }, err.message));
    return;
  }
  const first = body.entries[0].timestamp;
  target.replaceChildren(
    h("h2", { id: "timeline-title" }, `Timeline of ${callId}`),
    ...body.entries.map((entry) =>
      h("div", { class: `step ${entry.outcome === "error" ? "error" : ""}`, "data-surface": entry.surface },
        h("header", {},
          h("strong", {}, `+${((entry.timestamp - first) * 1000).toFixed(0)} ms`),
          h("span", {}, `${entry.kind === "tool" ? "tool" : "hook"} ${entry.name}`),
          h("span", { class: "muted" }, `via ${entry.surface}`), badge(entry.outcome),
          entry.errorKind ? h("span", { class: "muted" }, entry.errorKind) : null,
          h("span", { class: "muted" }, `${entry.durationMs.toFixed(1)} ms`),
          entry.agentId ? h("span", { class: "muted" }, `agent ${entry.agentId}`) : null,
          entry.keyId ? h("span", { class: "muted" }, entry.keyId) : null),
        h("div", { class: "cols" },
          h("div", {}, h("h3", {}, "Arguments"), h("pre", {}, pretty(entry.arguments))),
          h("div", {}, h("h3", {}, "Answer"), h("pre", {}, pretty(entry.result)))))));
  target.scrollIntoView({ block: "start" });
}

// -- Connect -----------------------------------------------------------------------------------

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = h("textarea", { value: text });
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  const label = button.textContent;
  button.textContent = "Copied";
  setTimeout(() => { button.textContent = label; }, 1500);
}

function block(id, title, note, value) {
  const text = pretty(value);
  const button = h("button", { type: "button", class: "secondary copy", "data-copy": id }, "Copy");
  button.addEventListener("click", () => copyText(text, button));
  return h("section", { class: "block", id: `block-${id}` },
    h("header", {}, h("div", {}, h("h3", {}, title), h("p", { class: "muted" }, note)), button),
    h("pre", {}, text));
}

async function loadConnect() {
  if (!$("base-url").value) $("base-url").value = location.origin + ROOT;
  let body;
  try {
    body = await api(`/console/api/connect?baseUrl=${encodeURIComponent($("base-url").value)}`);
  } catch (err) {
    if (!(err instanceof Unauthorized)) $("connect-blocks").replaceChildren(h("p", { class: "error" }, err.message));
    return;
  }
  $("connect-blocks").replaceChildren(
    h("h2", {}, "BlackBox agent"),
    block("blackbox", "Agent config: tools and mcpConnections",
      "As toolserver export blackbox prints it: paste config.tools[] (webhooks) or config.mcpConnections[] (every tool over MCP).", body.blackbox),
    block("blackbox-tools", "config.tools[] only", "One webhook tool per tool.", body.blackbox.tools),
    block("blackbox-mcp", "config.mcpConnections[] only", "Legacy SSE transport (BlackBox's default).", body.blackbox.mcpConnections),
    block("blackbox-mcp-http", "config.mcpConnections[] over Streamable HTTP", "transport StreamableHTTP, at /mcp.", body.blackboxStreamableHttp.mcpConnections),
    h("h2", {}, "MCP clients"),
    block("inspector", "MCP Inspector", "Save as mcp.json, then: npx @modelcontextprotocol/inspector --config mcp.json --server toolserver", body.mcpClients.inspector),
    block("claude", "Claude Desktop", "Merge into claude_desktop_config.json (it runs the mcp-remote bridge to this server).", body.mcpClients.claudeDesktop),
    block("cursor", "Cursor", "Merge into .cursor/mcp.json in a project, or ~/.cursor/mcp.json.", body.mcpClients.cursor));
}

$("connect-form").addEventListener("submit", (event) => { event.preventDefault(); loadConnect(); });

// -- Status ------------------------------------------------------------------------------------

function card(title, value, good) {
  return h("div", { class: "card" }, h("div", { class: "muted" }, title),
    h("div", { class: `value ${good === undefined ? "" : good ? "ok" : "bad"}` }, value));
}

async function probe(path) {
  try {
    const response = await fetch(ROOT + path, { credentials: "same-origin" });
    const body = await response.json().catch(() => ({}));
    return { ok: response.ok, body };
  } catch (err) {
    return { ok: false, body: { status: "unreachable", reason: err.message } };
  }
}

async function loadStatus() {
  const [health, ready] = await Promise.all([probe("/healthz"), probe("/readyz")]);
  let status;
  try {
    status = await api("/console/api/status");
  } catch (err) {
    return;
  }
  const log = status.callLog;
  $("status-cards").replaceChildren(
    card("Health (/healthz)", health.body.status || "down", health.ok),
    card("Readiness (/readyz)", ready.ok ? "ready" : `${ready.body.status}: ${ready.body.reason || ""}`, ready.ok),
    card("Calls in flight", String(status.inFlight)),
    card("Call log", log ? `${log.store}: ${log.written} written${log.dropped ? `, ${log.dropped} dropped` : ""}` : "off", log ? !log.dropped : undefined));
  const fmt = (v) => (v === null || v === undefined ? "—" : v.toFixed(1));
  $("stat-rows").replaceChildren(...status.stats.tools.map((row) =>
    h("tr", { "data-tool": row.tool },
      h("td", {}, row.tool),
      h("td", { class: "num" }, row.calls),
      h("td", { class: "num" }, row.errors),
      h("td", { class: "num" }, `${(row.errorRate * 100).toFixed(1)} %`),
      h("td", { class: "num" }, fmt(row.p50Ms)),
      h("td", { class: "num" }, fmt(row.p95Ms)),
      h("td", { class: "num" }, fmt(row.p99Ms)))));
  $("stats-note").textContent = `Counted by this process since ${new Date(status.stats.since * 1000).toLocaleString()}; percentiles over each tool's last ${status.stats.window} calls.` +
    (log ? ` The call log keeps ${log.retentionDays} days, ${log.maxRows} entries at most.` : "");
}

start();
