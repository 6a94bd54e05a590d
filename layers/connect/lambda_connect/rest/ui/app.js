// lambda-connect web console: plain JavaScript over the REST API of the same origin, no build step.
// Every value from the API is put in the page as text (never as HTML).
"use strict";

const BASE = location.pathname.replace(/\/ui\/.*$/, "");
const REFRESH_MS = 3000;
let timer = null;
let formState = null;

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// --- bearer token (HTTP API with a JWT authorizer) ----------------------------------------------
// Locally and behind the SigV4 proxy no token is needed. Behind a JWT authorizer the API answers 401
// until the console sends one: it takes a token handed over in the address (an identity provider's
// redirect to `/ui/#access_token=…` or `#id_token=…`) or pasted into the sign-in form, and keeps it
// in this tab's sessionStorage only, so closing the tab forgets it.
const TOKEN_KEY = "lambda-connect.token";

function takeTokenFromAddress() {
  const fragment = new URLSearchParams(location.hash.replace(/^#\/?/, ""));
  const token = fragment.get("access_token") || fragment.get("id_token");
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  history.replaceState(null, "", location.pathname + location.search + "#/");
}

function token() { return sessionStorage.getItem(TOKEN_KEY); }

class Unauthorized extends Error {}

async function api(method, path, body) {
  const init = { method, headers: { Accept: "application/json" } };
  if (token()) init.headers.Authorization = `Bearer ${token()}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const reply = await fetch(BASE + path, init);
  const text = await reply.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
  if (reply.status === 401) {
    throw new Unauthorized(token() ? "The API refused the token (expired or for another audience)."
      : "The API asks for a bearer token.");
  }
  if (!reply.ok) {
    const err = new Error((data && data.message) || `HTTP ${reply.status}`);
    err.status = reply.status;
    throw err;
  }
  return data;
}

const enc = encodeURIComponent;

function toast(message, bad) {
  const box = document.getElementById("toast");
  const item = h("div", { class: bad ? "bad" : "" }, message);
  box.append(item);
  setTimeout(() => item.remove(), 6000);
}

function stateBadge(state) { return h("span", { class: `state ${state}` }, state); }

function cell(label, value, cls) { return h("td", { "data-label": label, class: cls || null }, value); }

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${i ? n.toFixed(1) : Math.round(n)} ${units[i]}`;
}

function figures(status) {
  const ext = (status && status.lambda_connect) || {};
  const m = ext.metrics || {};
  const sink = status && status.type === "sink";
  const lagRows = ext.consumer_lag || [];
  return {
    in: sink ? m.RecordsIn : m.RecordsPolled,
    out: sink ? m.RecordsWritten : m.RecordsProduced,
    dlq: m.RecordsDeadLettered,
    // a sink's lag is records behind its topics; a source's is what the task reports of its
    // system (a CDC slot's or binlog's bytes behind), shown with its unit
    lag: lagRows.length ? lagRows.reduce((a, r) => a + r.lag, 0)
      : (m.source_lag_bytes !== undefined ? bytes(m.source_lag_bytes) : null),
    lagRows,
    raw: m,
  };
}

function show(value) { return value === undefined || value === null ? "–" : value; }

function setPage(title, nav, ...content) {
  const main = document.getElementById("main");
  main.replaceChildren(h("h2", {}, title), ...content);
  document.title = `${title} · lambda-connect`;
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.nav === nav) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
}

function failure(e) { return h("p", { class: "error", role: "alert" }, e.message); }

// --- connectors list ---------------------------------------------------------------------------
async function connectorsPage(refresh) {
  const data = await api("GET", "/connectors?expand=status&expand=info");
  const names = Object.keys(data).sort();
  const rows = names.map((name) => {
    const { status, info } = data[name];
    const tasks = (status && status.tasks) || [];
    const running = tasks.filter((t) => t.state === "RUNNING").length;
    const f = figures(status);
    return h("tr", {},
      cell("Name", h("a", { href: `#/connectors/${enc(name)}` }, name)),
      cell("Type", (info && info.type) || ""),
      cell("Class", h("span", { class: "mono" }, (info && info.config["connector.class"]) || "")),
      cell("State", stateBadge(status ? status.connector.state : "UNKNOWN")),
      cell("Tasks", `${running}/${tasks.length}`, "num"),
      cell("Lag", show(f.lag), "num"),
      cell("Records in", show(f.in), "num"),
      cell("Records out", show(f.out), "num"),
      cell("DLQ", show(f.dlq), "num"));
  });
  const table = rows.length
    ? h("div", { class: "wrap" }, h("table", { class: "stack", id: "connectors" },
      h("thead", {}, h("tr", {}, ["Name", "Type", "Class", "State", "Tasks", "Lag", "Records in", "Records out",
        "DLQ"].map((t, i) => h("th", { scope: "col", class: i >= 4 ? "num" : null }, t)))),
      h("tbody", {}, rows)))
    : h("p", {}, "No connectors yet. ", h("a", { href: "#/new" }, "Create one"), ".");
  if (refresh && document.getElementById("connectors-page")) {
    document.getElementById("connectors-page").replaceChildren(table);
    return;
  }
  setPage("Connectors", "connectors", h("div", { id: "connectors-page" }, table));
}

// --- one connector -----------------------------------------------------------------------------
async function passwordKeys(cls) {
  try {
    const defs = await api("GET", `/connector-plugins/${enc(cls)}/config`);
    return new Set(defs.filter((d) => d.type === "PASSWORD").map((d) => d.name));
  } catch (e) { return new Set(); }
}

function masked(key, value, secrets) {
  const secret = secrets.has(key) || /(password|secret|token|credential)/i.test(key);
  return secret && value ? "••••••••" : value;
}

async function connectorPage(name, refresh) {
  const [info, status] = await Promise.all([api("GET", `/connectors/${enc(name)}`),
    api("GET", `/connectors/${enc(name)}/status`)]);
  const f = figures(status);
  const cards = h("div", { class: "grid" }, [
    ["State", h("span", {}, stateBadge(status.connector.state))], ["Records in", show(f.in)],
    ["Records out", show(f.out)], ["Dead-lettered", show(f.dlq)], ["Lag", show(f.lag)],
    ["Worker", h("span", { class: "mono" }, status.connector.worker_id)],
  ].map(([k, v]) => h("div", { class: "card" }, h("span", { class: "muted" }, k), h("b", {}, v))));
  const tasks = h("div", { class: "wrap" }, h("table", { class: "stack" },
    h("thead", {}, h("tr", {}, h("th", {}, "Task"), h("th", {}, "State"), h("th", {}, "Worker"), h("th", {}, "Trace"))),
    h("tbody", {}, status.tasks.map((t) => h("tr", {},
      cell("Task", String(t.id)), cell("State", stateBadge(t.state)),
      cell("Worker", h("span", { class: "mono" }, t.worker_id)),
      cell("Trace", t.trace ? h("details", {}, h("summary", {}, "trace"), h("pre", {}, t.trace)) : "–"))))));
  const live = h("div", { id: "connector-live" }, cards, h("h3", {}, "Tasks"),
    status.tasks.length ? tasks : h("p", { class: "muted" }, "No tasks."));
  if (refresh && document.getElementById("connector-live")) {
    document.getElementById("connector-live").replaceWith(live);
    return;
  }
  const secrets = await passwordKeys(info.config["connector.class"]);
  const config = h("div", { class: "wrap" }, h("table", { id: "config" }, h("tbody", {},
    Object.keys(info.config).sort().map((k) => h("tr", {}, h("th", { scope: "row", class: "mono" }, k),
      h("td", { class: "mono" }, masked(k, info.config[k], secrets)))))));
  const act = (label, method, path, cls, confirmText) => h("button", {
    class: cls || null,
    onclick: async () => {
      if (confirmText && !confirm(confirmText)) return;
      try {
        await api(method, path);
        toast(`${label}: done`);
        if (method === "DELETE") location.hash = "#/"; else connectorPage(name, true);
      } catch (e) { toast(`${label}: ${e.message}`, true); }
    },
  }, label);
  const base = `/connectors/${enc(name)}`;
  const actions = h("div", { class: "actions", role: "group", "aria-label": "Actions" },
    act("Pause", "PUT", `${base}/pause`), act("Resume", "PUT", `${base}/resume`), act("Stop", "PUT", `${base}/stop`),
    act("Restart", "POST", `${base}/restart?includeTasks=true&onlyFailed=false`),
    h("a", { class: "button", href: `#/edit/${enc(name)}` }, "Edit"),
    info.config["errors.deadletterqueue.topic.name"] ? h("a", { class: "button", href: `#/dlq/${enc(name)}` }, "DLQ") : null,
    act("Delete", "DELETE", base, "danger", `Delete connector ${name}?`));
  const offsets = h("div", { id: "offsets" }, h("p", { class: "muted" }, "…"));
  const topics = h("div", { id: "topics" }, h("p", { class: "muted" }, "…"));
  setPage(name, "connectors", h("p", { class: "muted" }, `${info.type} connector · `,
    h("span", { class: "mono" }, info.config["connector.class"])), actions, live,
  h("h3", {}, "Configuration"), config, h("h3", {}, "Offsets"), offsets, h("h3", {}, "Active topics"), topics);
  api("GET", `${base}/offsets`).then((o) => offsets.replaceChildren(o.offsets.length
    ? h("div", { class: "wrap" }, h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Partition"), h("th", {}, "Offset"))),
      h("tbody", {}, o.offsets.map((x) => h("tr", {}, h("td", { class: "mono" }, JSON.stringify(x.partition)),
        h("td", { class: "mono" }, JSON.stringify(x.offset)))))))
    : h("p", { class: "muted" }, "No committed offsets yet."))).catch((e) => offsets.replaceChildren(failure(e)));
  api("GET", `${base}/topics`).then((t) => {
    const list = (t[name] && t[name].topics) || [];
    topics.replaceChildren(list.length ? h("ul", {}, list.map((x) => h("li", { class: "mono" }, x)))
      : h("p", { class: "muted" }, "None recorded."));
  }).catch((e) => topics.replaceChildren(failure(e)));
}

// --- create / edit -----------------------------------------------------------------------------
function fieldId(key) { return "f-" + key.replace(/[^a-zA-Z0-9]/g, "_"); }

function collect() {
  const config = {};
  for (const input of document.querySelectorAll("[data-key]")) {
    if (input.value.trim() !== "") config[input.dataset.key] = input.value.trim();
  }
  const extra = document.getElementById("extra");
  for (const line of (extra ? extra.value : "").split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) config[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  const cls = document.getElementById("f-class");
  config["connector.class"] = cls.value;
  return config;
}

function showErrors(result) {
  const general = [];
  const seen = new Set();
  for (const item of result.configs) {
    const v = item.value;
    if (!v) continue;
    const box = document.getElementById(`${fieldId(v.name)}-error`);
    const input = document.getElementById(fieldId(v.name));
    if (box) {
      box.textContent = v.errors.join(" ");
      if (input) input.setAttribute("aria-invalid", v.errors.length ? "true" : "false");
      seen.add(v.name);
    } else if (v.errors.length) general.push(`${v.name}: ${v.errors.join(" ")}`);
  }
  for (const box of document.querySelectorAll(".error[data-for]")) {
    if (!seen.has(box.dataset.for)) box.textContent = "";
  }
  const summary = document.getElementById("form-errors");
  summary.replaceChildren(...general.map((g) => h("li", {}, g)));
  document.getElementById("error-count").textContent = result.error_count
    ? `${result.error_count} error(s)` : "No errors";
  return result.error_count;
}

async function validateNow() {
  const cls = document.getElementById("f-class").value;
  if (!cls) return null;
  const config = collect();
  config.name = document.getElementById("f-name").value.trim() || "unnamed";
  const result = await api("PUT", `/connector-plugins/${enc(cls)}/config/validate`, config);
  showErrors(result);
  return result;
}

let validateTimer = null;
function scheduleValidate() {
  clearTimeout(validateTimer);
  validateTimer = setTimeout(() => validateNow().catch((e) => toast(e.message, true)), 350);
}

function fieldFor(def, value) {
  const id = fieldId(def.name);
  const docId = `${id}-doc`;
  const errId = `${id}-error`;
  const attrs = { id, "data-key": def.name, name: def.name, "aria-describedby": `${docId} ${errId}`,
    oninput: scheduleValidate, placeholder: def.default_value === null ? "" : def.default_value };
  let input;
  if (def.type === "BOOLEAN") {
    input = h("select", attrs, ["", "true", "false"].map((o) => h("option", { value: o, selected: value === o }, o || "(default)")));
    input.addEventListener("change", scheduleValidate);
  } else if (def.type === "PASSWORD") {
    input = h("input", { ...attrs, type: "password", autocomplete: "off" });
    input.value = value || "";
  } else {
    input = h("input", { ...attrs, type: "text", list: def.recommended && def.recommended.length ? `${id}-list` : null });
    input.value = value || "";
  }
  return h("div", { class: "field" },
    h("label", { for: id }, def.display_name || def.name, def.required ? " *" : "",
      h("span", { class: "mono muted" }, def.display_name && def.display_name !== def.name ? `  ${def.name}` : "")),
    h("p", { class: "doc", id: docId }, def.documentation || ""),
    input,
    def.recommended && def.recommended.length ? h("datalist", { id: `${id}-list` }, def.recommended.map((r) => h("option", { value: r }))) : null,
    h("p", { class: "error", id: errId, "data-for": def.name, "aria-live": "polite" }));
}

async function renderFields(cls, config) {
  const holder = document.getElementById("fields");
  holder.replaceChildren(h("p", { class: "muted" }, "Loading the plugin's settings…"));
  const defs = await api("GET", `/connector-plugins/${enc(cls)}/config`);
  const result = await api("PUT", `/connector-plugins/${enc(cls)}/config/validate`,
    { ...config, "connector.class": cls, name: config.name || "unnamed" });
  const recommended = {};
  for (const item of result.configs) if (item.value) recommended[item.value.name] = item.value.recommended_values;
  const groups = new Map();
  const known = new Set(["name", "connector.class"]);
  for (const def of defs) {
    known.add(def.name);
    if (def.name === "name" || def.name === "connector.class") continue;
    def.recommended = recommended[def.name] || [];
    const group = def.group || "Other";
    if (!groups.has(group)) groups.set(group, []);
    groups.get(group).push(def);
  }
  const sets = [...groups.entries()].map(([group, list], i) => {
    list.sort((a, b) => (a.order || 0) - (b.order || 0));
    const important = list.filter((d) => d.required || d.importance === "HIGH" || config[d.name] !== undefined);
    const rest = list.filter((d) => !important.includes(d));
    return h("fieldset", {}, h("legend", {}, group),
      important.map((d) => fieldFor(d, config[d.name])),
      rest.length ? h("details", { open: i === 0 && important.length === 0 ? true : null },
        h("summary", {}, `${rest.length} more setting(s)`), rest.map((d) => fieldFor(d, config[d.name]))) : null);
  });
  const extra = Object.entries(config).filter(([k]) => !known.has(k)).map(([k, v]) => `${k}=${v}`).join("\n");
  holder.replaceChildren(...sets, h("div", { class: "field" },
    h("label", { for: "extra" }, "Other properties (one key=value a line: transforms, predicates, converter settings…)"),
    h("textarea", { id: "extra", rows: 4, class: "mono", oninput: scheduleValidate }, extra)));
  showErrors(result);
}

async function formPage(editName) {
  formState = { editing: editName || null };
  let config = {};
  if (editName) config = await api("GET", `/connectors/${enc(editName)}/config`);
  const plugins = (await api("GET", "/connector-plugins")).filter((p) => p.type === "sink" || p.type === "source");
  const classSelect = h("select", { id: "f-class", "aria-describedby": "f-class-doc", disabled: editName ? true : null,
    onchange: () => renderFields(classSelect.value, collect()).catch((e) => toast(e.message, true)) },
  h("option", { value: "" }, "Choose a connector class"),
  plugins.map((p) => h("option", { value: p.class, selected: p.class === config["connector.class"] }, `${p.class} (${p.type})`)));
  const nameInput = h("input", { id: "f-name", type: "text", required: true, value: editName || "",
    readonly: editName ? true : null, oninput: scheduleValidate, autocomplete: "off" });
  const form = h("form", {
    id: "connector-form", novalidate: true,
    onsubmit: async (ev) => {
      ev.preventDefault();
      const name = nameInput.value.trim();
      if (!name) { toast("A connector needs a name", true); nameInput.focus(); return; }
      try {
        const result = await validateNow();
        if (result && result.error_count) {
          toast(`Not saved: ${result.error_count} error(s), shown next to their fields`, true);
          const bad = document.querySelector("[aria-invalid=true]");
          if (bad) bad.focus();
          return;
        }
        const config = collect();
        if (formState.editing) await api("PUT", `/connectors/${enc(name)}/config`, { ...config, name });
        else await api("POST", "/connectors", { name, config });
        toast(`Saved ${name}`);
        location.hash = `#/connectors/${enc(name)}`;
      } catch (e) { toast(`Not saved: ${e.message}`, true); }
    },
  },
  h("div", { class: "field" }, h("label", { for: "f-name" }, "Name *"), nameInput),
  h("div", { class: "field" }, h("label", { for: "f-class" }, "Connector class *"),
    h("p", { class: "doc", id: "f-class-doc" }, "Its settings below come from the plugin's own definition."), classSelect),
  h("div", { id: "fields" }),
  h("ul", { id: "form-errors", class: "error", "aria-live": "polite" }),
  h("div", { class: "actions" }, h("button", { class: "primary", type: "submit" }, editName ? "Save changes" : "Create"),
    h("span", { id: "error-count", class: "muted", "aria-live": "polite" })));
  setPage(editName ? `Edit ${editName}` : "New connector", editName ? "connectors" : "new", form);
  if (config["connector.class"]) await renderFields(config["connector.class"], config);
}

// --- dead letter queue -------------------------------------------------------------------------
async function dlqPage(name, refresh) {
  const filterInput = document.getElementById("dlq-filter");
  const filters = filterInput ? filterInput.value.split(",").map((s) => s.trim()).filter(Boolean) : [];
  const query = ["limit=500", ...filters.map((f) => `filter=${enc(f)}`)].join("&");
  const data = await api("GET", `/connectors/${enc(name)}/dlq?${query}`);
  const positions = data.replay_positions || {};
  const rows = data.entries.map((e) => h("tr", {},
    cell("Topic", h("span", { class: "mono" }, show(e.topic))), cell("Partition", show(e.partition), "num"),
    cell("Offset", show(e.offset), "num"), cell("Stage", show(e.stage)),
    cell("Error", h("span", { class: "mono" }, show(e.error_class))), cell("Message", show(e.message)),
    cell("Key", h("span", { class: "mono" }, show(e.key))),
    cell("Value", h("span", { class: "mono" }, e.value && e.value.length > 80 ? e.value.slice(0, 79) + "…" : show(e.value))),
    cell("Replayed", positions[String(e.dlq_partition)] > e.dlq_offset ? "yes" : "no")));
  const table = h("div", { id: "dlq-table" }, h("p", { class: "muted" },
    `${data.entries.length} shown of ${data.total} in ${data.dlq_topic} (replay group ${data.replay_group})`),
  rows.length ? h("div", { class: "wrap" }, h("table", { class: "stack", id: "dlq" },
    h("thead", {}, h("tr", {}, ["Topic", "Partition", "Offset", "Stage", "Error", "Message", "Key", "Value", "Replayed"]
      .map((t) => h("th", { scope: "col" }, t)))), h("tbody", {}, rows))) : h("p", {}, "The dead letter queue is empty."));
  if (refresh && document.getElementById("dlq-table")) {
    document.getElementById("dlq-table").replaceWith(table);
    return;
  }
  const result = h("p", { id: "replay-result", role: "status", "aria-live": "polite" });
  const dry = h("input", { type: "checkbox", id: "dlq-dry" });
  const toTopic = h("input", { type: "text", id: "dlq-to", placeholder: "original topics" });
  const controls = h("form", {
    class: "filters", onsubmit: (ev) => { ev.preventDefault(); dlqPage(name, true).catch((e) => toast(e.message, true)); },
  },
  h("div", { class: "field" }, h("label", { for: "dlq-filter" }, "Filter"),
    h("p", { class: "doc", id: "dlq-filter-doc" }, "FIELD=VALUE or FIELD~TEXT, comma-separated (stage, error_class, message, topic, key…)"),
    h("input", { type: "text", id: "dlq-filter", "aria-describedby": "dlq-filter-doc" })),
  h("button", { type: "submit" }, "Apply"));
  const replayBox = h("div", { class: "filters" },
    h("div", { class: "field" }, h("label", { for: "dlq-to" }, "Replay to topic"), toTopic),
    h("label", {}, dry, " dry run"),
    h("button", {
      class: "primary", id: "replay",
      onclick: async () => {
        const f = document.getElementById("dlq-filter").value.split(",").map((s) => s.trim()).filter(Boolean);
        const body = { dry_run: dry.checked, filter: f };
        if (toTopic.value.trim()) body.to_topic = toTopic.value.trim();
        try {
          const r = await api("POST", `/connectors/${enc(name)}/dlq/replay`, body);
          result.textContent = `${r.dry_run ? "Would replay" : "Replayed"} ${r.replayed} record(s); ` +
            `${r.already_replayed} replayed before; ${r.skipped} left by the filter.`;
          dlqPage(name, true);
        } catch (e) { result.textContent = `Replay failed: ${e.message}`; }
      },
    }, "Replay"));
  setPage(`Dead letter queue of ${name}`, "connectors",
    h("p", {}, h("a", { href: `#/connectors/${enc(name)}` }, `← ${name}`)), controls, replayBox, result, table);
}

// --- plugins -----------------------------------------------------------------------------------
async function pluginsPage() {
  const plugins = await api("GET", "/connector-plugins?connectorsOnly=false");
  setPage("Plugins", "plugins", h("div", { class: "wrap" }, h("table", { class: "stack", id: "plugins" },
    h("thead", {}, h("tr", {}, h("th", {}, "Class"), h("th", {}, "Type"), h("th", {}, "Version"))),
    h("tbody", {}, plugins.map((p) => h("tr", {}, cell("Class", h("span", { class: "mono" }, p.class)),
      cell("Type", p.type), cell("Version", p.version || "")))))));
}

// --- sign-in -----------------------------------------------------------------------------------
function signInPage(reason) {
  const input = h("input", { id: "token", type: "password", autocomplete: "off", required: true,
    "aria-describedby": "token-help" });
  const form = h("form", {
    id: "sign-in",
    onsubmit: (e) => {
      e.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      navigate();
    },
  },
  h("label", { for: "token" }, "Bearer token"), input,
  h("p", { id: "token-help", class: "muted" },
    "A JWT your identity provider issued for this API's audience. It is kept in this tab only."),
  h("button", { type: "submit", class: "primary" }, "Sign in"));
  setPage("Sign in", "", h("p", { class: "error", role: "alert" }, reason), form);
  input.focus();
}

// --- routing -----------------------------------------------------------------------------------
function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const [page, name] = parts;
  if (page === "connectors" && name) return [() => connectorPage(name), () => connectorPage(name, true)];
  if (page === "new") return [() => formPage(null), null];
  if (page === "edit" && name) return [() => formPage(name), null];
  if (page === "dlq" && name) return [() => dlqPage(name), () => dlqPage(name, true)];
  if (page === "plugins") return [pluginsPage, null];
  return [() => connectorsPage(false), () => connectorsPage(true)];
}

async function navigate() {
  clearInterval(timer);
  const [render, refresh] = route();
  try {
    await render();
    document.getElementById("main").focus({ preventScroll: true });
  } catch (e) {
    if (e instanceof Unauthorized) {
      if (token()) sessionStorage.removeItem(TOKEN_KEY);
      signInPage(e.message);
    } else {
      setPage("Error", "", failure(e));
    }
    return;
  }
  if (refresh) {
    timer = setInterval(async () => {
      try {
        await refresh();
        document.getElementById("refresh-state").textContent = `updated ${new Date().toLocaleTimeString()}`;
      } catch (e) {
        if (e instanceof Unauthorized) {
          clearInterval(timer);
          sessionStorage.removeItem(TOKEN_KEY);
          signInPage(e.message);
          return;
        }
        document.getElementById("refresh-state").textContent = `refresh failed: ${e.message}`;
      }
    }, REFRESH_MS);
  }
}

function start() { takeTokenFromAddress(); navigate(); }

window.addEventListener("hashchange", start);
window.addEventListener("DOMContentLoaded", start);
