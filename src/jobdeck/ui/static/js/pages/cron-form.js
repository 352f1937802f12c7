// Create or edit a schedule. The next fire times are previewed as you type
// (POST /api/cron-jobs/preview); the configuration form is built from the chosen job
// type's JSON schema (GET /api/cron-jobs/types), with a JSON editor for anything the
// form cannot express; the API's validation messages are shown by the field they name.

import { api, ApiError } from "../api.js";
import { el, timeEl } from "../format.js";

const form = document.getElementById("cron-form");
const cronId = form.dataset.cronId;
const formError = document.getElementById("form-error");
const typeSelect = document.getElementById("job_type");
const generated = document.getElementById("config-generated");
const raw = document.getElementById("config-raw");
const FIELDS = ["name", "cron_expression", "timezone", "job_type", "configuration"];
let types = [];
let previewTimer = null;
let previewSeq = 0;
let configuration = {};

function clearErrors() {
  formError.hidden = true;
  formError.textContent = "";
  for (const name of FIELDS) {
    const node = document.getElementById(`${name}-error`);
    if (node) node.textContent = "";
  }
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

function showError(message) {
  // "field: what is wrong" (configuration.x: … for the configuration) → beside that field.
  const match = /^([a-z_]+)(?:\.([\w.-]+))?: /.exec(message);
  const name = match ? match[1] : null;
  if (name && FIELDS.includes(name)) {
    document.getElementById(`${name}-error`).textContent = message;
    const input = name === "configuration" ? configInput(match[2]) || raw : document.getElementById(name);
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  }
  formError.textContent = message;
  formError.hidden = false;
  if (!name || !FIELDS.includes(name)) formError.focus();
}

function configInput(key) {
  if (!key) return null;
  return generated.querySelector(`[data-key="${CSS.escape(key.split(".")[0])}"]`);
}

// --- preview ------------------------------------------------------------------------

function schedulePreview() {
  window.clearTimeout(previewTimer);
  previewTimer = window.setTimeout(preview, 250);
}

async function preview() {
  const expression = form.elements.cron_expression.value.trim();
  const human = document.getElementById("preview-human");
  const runs = document.getElementById("preview-runs");
  const error = document.getElementById("cron_expression-error");
  const input = form.elements.cron_expression;
  const box = document.getElementById("preview");
  if (!expression) {
    human.textContent = "";
    runs.replaceChildren();
    box.hidden = true;
    return;
  }
  const mine = ++previewSeq;
  try {
    const answer = await api("/api/cron-jobs/preview", {
      method: "POST",
      body: { cron_expression: expression, timezone: form.elements.timezone.value.trim() || "UTC" },
    });
    if (mine !== previewSeq) return;
    error.textContent = "";
    document.getElementById("timezone-error").textContent = "";
    input.removeAttribute("aria-invalid");
    form.elements.timezone.removeAttribute("aria-invalid");
    human.textContent = answer.description_human;
    box.hidden = false;
    runs.replaceChildren(...answer.next_runs.map((t) => el("li", {}, timeEl(t, false), " ", el("span", { class: "muted" }, `(${timeEl(t).textContent})`))));
  } catch (failure) {
    if (mine !== previewSeq || !(failure instanceof ApiError)) return;
    human.textContent = "";
    runs.replaceChildren();
    box.hidden = true;
    const target = failure.message.startsWith("timezone") ? "timezone" : "cron_expression";
    document.getElementById(`${target}-error`).textContent = failure.message;
    document.getElementById(target).setAttribute("aria-invalid", "true");
  }
}

// --- configuration from the type's schema -------------------------------------------

function currentType() {
  return types.find((t) => t.type === typeSelect.value);
}

function buildConfig() {
  const type = currentType();
  document.getElementById("job_type-hint").textContent = type ? `${type.description || ""}${type.admin_only ? " (admin only)" : ""}` : "";
  const schema = (type && type.schema) || {};
  const properties = schema.properties || {};
  const required = new Set(schema.required || []);
  generated.replaceChildren();
  for (const [key, prop] of Object.entries(properties)) {
    const id = `config-${key}`;
    const label = `${prop.title || key}${required.has(key) ? "" : " (optional)"}`;
    const hint = prop.description ? el("p", { class: "muted", id: `${id}-hint`, text: prop.description }) : null;
    let input;
    const value = configuration[key];
    const kind = Array.isArray(prop.type) ? prop.type.find((t) => t !== "null") : prop.type;
    if (Array.isArray(prop.enum)) {
      input = el("select", { id }, ...(required.has(key) ? [] : [el("option", { value: "", text: "—" })]), ...prop.enum.map((v) => el("option", { value: JSON.stringify(v), text: String(v) })));
      if (value !== undefined) input.value = JSON.stringify(value);
      else if (prop.default !== undefined) input.value = JSON.stringify(prop.default);
    } else if (kind === "boolean") {
      input = el("input", { id, type: "checkbox" });
      input.checked = value !== undefined ? Boolean(value) : Boolean(prop.default);
      generated.append(el("div", { class: "field" }, el("label", { class: "check" }, input, ` ${label}`), hint));
      input.dataset.key = key;
      input.dataset.kind = kind;
      if (hint) input.setAttribute("aria-describedby", hint.id);
      continue;
    } else if (kind === "integer" || kind === "number") {
      input = el("input", { id, type: "number", step: kind === "integer" ? 1 : "any", min: prop.minimum, max: prop.maximum });
      if (value !== undefined) input.value = String(value);
      else if (prop.default !== undefined) input.value = String(prop.default);
    } else if (kind === "object" || kind === "array") {
      input = el("textarea", { id, rows: 3, spellcheck: "false" });
      input.value = value !== undefined ? JSON.stringify(value, null, 2) : "";
    } else {
      input = el("input", { id, type: prop.format === "email" ? "email" : "text", maxlength: prop.maxLength });
      if (value !== undefined) input.value = String(value);
      else if (prop.default !== undefined) input.value = String(prop.default);
    }
    input.dataset.key = key;
    input.dataset.kind = kind || "string";
    if (required.has(key)) input.required = true;
    if (hint) input.setAttribute("aria-describedby", hint.id);
    generated.append(el("div", { class: "field" }, el("label", { for: id, text: label }), input, hint));
  }
  if (!type) {
    generated.append(el("p", { class: "muted", text: "Choose a job type first: its settings appear here." }));
  } else if (!Object.keys(properties).length) {
    generated.append(el("p", { class: "muted", text: "This type declares no configuration fields: use the JSON editor if it takes any." }));
  }
  raw.value = JSON.stringify(configuration, null, 2);
}

function readConfig() {
  // The JSON editor, when changed by hand, is the configuration; else the form's fields.
  if (raw.dataset.edited === "true") return JSON.parse(raw.value || "{}");
  const result = { ...configuration };
  for (const input of generated.querySelectorAll("[data-key]")) {
    const key = input.dataset.key;
    const kind = input.dataset.kind;
    delete result[key];
    if (input.type === "checkbox") result[key] = input.checked;
    else if (input.tagName === "SELECT") {
      if (input.value !== "") result[key] = JSON.parse(input.value);
    } else if (input.value.trim() === "") continue;
    else if (kind === "integer" || kind === "number") result[key] = Number(input.value);
    else if (kind === "object" || kind === "array") result[key] = JSON.parse(input.value);
    else result[key] = input.value;
  }
  return result;
}

// --- loading and saving -------------------------------------------------------------

function fill(cron) {
  for (const name of ["name", "description", "cron_expression", "timezone", "priority", "max_retries", "timeout_seconds", "max_failures", "misfire_policy", "overlap_policy"]) {
    if (cron[name] !== null && cron[name] !== undefined) form.elements[name].value = String(cron[name]);
  }
  form.elements.is_active.checked = cron.is_active;
  form.elements.show_notification.checked = cron.show_notification;
  configuration = cron.configuration || {};
  typeSelect.value = cron.job_type;
}

async function setUp() {
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  document.getElementById("zones").replaceChildren(...["UTC", ...zones].map((z) => el("option", { value: z })));
  const answer = await api("/api/cron-jobs/types");
  types = answer.data;
  typeSelect.replaceChildren(el("option", { value: "", text: "Choose a job type" }), ...types.map((t) => el("option", { value: t.type, text: t.type })));
  if (cronId) {
    const existing = await api(`/api/cron-jobs/${cronId}`);
    fill(existing.job);
  }
  buildConfig();
  schedulePreview();
}

async function save(event) {
  event.preventDefault();
  clearErrors();
  let config;
  try {
    config = readConfig();
  } catch {
    showError("configuration: not valid JSON");
    return;
  }
  const numbers = ["max_retries", "timeout_seconds", "max_failures"];
  const body = {
    name: form.elements.name.value.trim(),
    description: form.elements.description.value.trim() || null,
    cron_expression: form.elements.cron_expression.value.trim(),
    timezone: form.elements.timezone.value.trim() || "UTC",
    job_type: typeSelect.value,
    configuration: config,
    is_active: form.elements.is_active.checked,
    show_notification: form.elements.show_notification.checked,
    priority: form.elements.priority.value,
    misfire_policy: form.elements.misfire_policy.value,
    overlap_policy: form.elements.overlap_policy.value,
  };
  for (const name of numbers) if (form.elements[name].value !== "") body[name] = Number(form.elements[name].value);
  if (!body.name) return showError("name: give the schedule a name");
  if (!body.job_type) return showError("job_type: choose a job type");
  try {
    const answer = await api(cronId ? `/api/cron-jobs/${cronId}` : "/api/cron-jobs", { method: cronId ? "PUT" : "POST", body });
    window.location.assign(`/cron/${answer.job.id}`);
  } catch (error) {
    if (error instanceof ApiError) showError(error.message);
    else throw error;
  }
}

form.elements.cron_expression.addEventListener("input", schedulePreview);
form.elements.timezone.addEventListener("input", schedulePreview);
typeSelect.addEventListener("change", () => {
  configuration = {};
  raw.dataset.edited = "false";
  buildConfig();
});
raw.addEventListener("input", () => {
  raw.dataset.edited = "true";
});
form.addEventListener("submit", save);
setUp().catch((error) => showError(`Could not load the form: ${error.message}`));
