// Jobs: filters, text search, sort and pagination kept in the URL (shareable; the back
// button works), rows and bars that update live, cancel/retry/delete, bulk actions on
// a selection or on everything the filter matches.

import { api, ApiError, query } from "../api.js";
import { badge, el, percent, setStatus, TERMINAL, timeEl } from "../format.js";
import * as live from "../live.js";

const form = document.getElementById("filters");
const body = document.getElementById("jobs");
const statusLine = document.getElementById("jobs-status");
const caption = document.getElementById("jobs-caption");
const selectAll = document.getElementById("select-all");
const principal = JSON.parse(document.getElementById("principal").textContent);
const FIELDS = ["q", "type", "source", "storeId", "mode", "sort", "limit"];
const selected = new Set();
const rows = new Map(); // jobId -> { job, row }
let state = null;
let newer = 0;

function fromUrl() {
  const params = new URLSearchParams(window.location.search);
  return {
    q: params.get("q") || "",
    type: params.get("type") || "",
    source: params.get("source") || "",
    storeId: params.get("storeId") || "",
    mode: params.get("mode") || "",
    sort: params.get("sort") || "",
    limit: Number(params.get("limit")) || 25,
    offset: Math.max(0, Number(params.get("offset")) || 0),
    status: params.getAll("status").flatMap((s) => s.split(",")).filter(Boolean),
  };
}

function toForm(s) {
  for (const name of FIELDS) form.elements[name].value = String(s[name] ?? "");
  for (const box of form.querySelectorAll('input[name="status"]')) box.checked = s.status.includes(box.value);
}

function fromForm() {
  const s = { offset: 0, status: [] };
  for (const name of FIELDS) s[name] = form.elements[name].value.trim();
  s.limit = Number(s.limit) || 25;
  for (const box of form.querySelectorAll('input[name="status"]:checked')) s.status.push(box.value);
  return s;
}

function urlOf(s) {
  const params = { ...s };
  if (params.limit === 25) delete params.limit;
  if (!params.offset) delete params.offset;
  return `/jobs${query(params)}`;
}

function filterOf(s) {
  const filter = {};
  for (const name of ["q", "type", "source", "storeId", "mode"]) if (s[name]) filter[name] = s[name];
  if (s.status.length) filter.status = s.status;
  return filter;
}

async function load() {
  state = fromUrl();
  toForm(state);
  body.setAttribute("aria-busy", "true");
  try {
    const page = await api(`/api/v1/jobs${query({ ...state, status: state.status.join(",") || undefined })}`);
    render(page);
  } catch (error) {
    if (error instanceof ApiError) setStatus(statusLine, `Could not load jobs: ${error.message}`);
  } finally {
    body.removeAttribute("aria-busy");
  }
}

function render(page) {
  rows.clear();
  selected.clear();
  newer = 0;
  const first = page.total ? page.offset + 1 : 0;
  const last = page.offset + page.data.length;
  const range = `${first.toLocaleString()}–${last.toLocaleString()} of ${page.total.toLocaleString()} jobs`;
  document.getElementById("range").textContent = range;
  caption.textContent = page.total ? `Jobs ${range}` : "No job matches these filters.";
  statusLine.textContent = "";
  pager(page);
  body.replaceChildren(...page.data.map(rowOf));
  syncSelection();
}

function pager(page) {
  const prev = document.getElementById("prev");
  const next = document.getElementById("next");
  const before = Math.max(0, page.offset - page.limit);
  const after = page.offset + page.limit;
  prev.href = urlOf({ ...state, offset: before });
  next.href = urlOf({ ...state, offset: after });
  prev.setAttribute("aria-disabled", String(page.offset === 0));
  next.setAttribute("aria-disabled", String(after >= page.total));
}

function rowOf(job) {
  const box = el("input", { type: "checkbox", "aria-label": `Select ${job.name}` });
  box.addEventListener("change", () => {
    if (box.checked) selected.add(job.jobId);
    else selected.delete(job.jobId);
    syncSelection();
  });
  const row = el(
    "tr",
    { dataset: { jobId: job.jobId } },
    el("td", {}, box),
    el("td", {}, el("a", { href: `/jobs/${encodeURIComponent(job.jobId)}`, class: "job-name" }), el("span", { class: "sub desc" })),
    el("td", { class: "status-cell" }),
    el("td", {}, el("div", { class: "bar-cell" }, el("progress", { max: 100, value: 0 }), el("span", { class: "pct" })), el("span", { class: "sub msg" })),
    el("td", { class: "optional" }, el("span", { class: "type" }), el("span", { class: "sub source" })),
    el("td", { class: "created optional" }),
    el("td", { class: "actions-cell" }),
  );
  rows.set(job.jobId, { job, row });
  fill(row, job);
  return row;
}

function fill(row, job) {
  row.querySelector(".job-name").textContent = job.name;
  row.querySelector(".desc").textContent = job.description || "";
  row.querySelector(".status-cell").replaceChildren(badge(job.status));
  const bar = row.querySelector("progress");
  bar.value = Math.max(0, Math.min(100, Number(job.progress) || 0));
  bar.setAttribute("aria-label", `Progress of ${job.name}`);
  row.querySelector(".pct").textContent = percent(job.progress);
  row.querySelector(".msg").textContent = job.status === "failed" ? job.errorMessage || "" : job.progressMessage || "";
  row.querySelector(".type").textContent = job.type;
  row.querySelector(".source").textContent = [job.source, job.storeId && `store ${job.storeId}`].filter(Boolean).join(" · ");
  row.querySelector(".created").replaceChildren(timeEl(job.createdAt));
  const cell = row.querySelector(".actions-cell");
  cell.replaceChildren();
  if (!principal.write) return;
  const actions = [];
  if (!TERMINAL.has(job.status) && job.status !== "cancelling") actions.push("cancel");
  if (job.mode === "queued" && (job.status === "failed" || job.status === "cancelled")) actions.push("retry");
  if (TERMINAL.has(job.status)) actions.push("delete");
  for (const action of actions) {
    const label = { cancel: "Cancel", retry: "Retry", delete: "Delete" }[action];
    const button = el("button", { type: "button", "aria-label": `${label} ${job.name}`, text: label });
    button.addEventListener("click", () => one(action, job));
    cell.append(button);
  }
}

async function one(action, job) {
  if (action === "delete" && !window.confirm(`Delete the job “${job.name}”?`)) return;
  try {
    if (action === "delete") {
      await api(`/api/v1/jobs/${encodeURIComponent(job.jobId)}`, { method: "DELETE" });
      rows.get(job.jobId)?.row.remove();
      rows.delete(job.jobId);
      setStatus(statusLine, `Deleted “${job.name}”.`);
    } else {
      const answer = await api(`/api/v1/jobs/${encodeURIComponent(job.jobId)}/${action}`, { method: "POST" });
      update(answer.data);
      setStatus(statusLine, `“${job.name}” is ${answer.data.status}.`);
    }
  } catch (error) {
    setStatus(statusLine, `Could not ${action} “${job.name}”: ${error.message}`);
  }
}

async function bulk(action, scope) {
  const request = { action };
  let what;
  if (scope === "selection") {
    request.jobIds = [...selected];
    what = `${request.jobIds.length} selected job(s)`;
  } else {
    request.filter = filterOf(state);
    what = "every job matching the current filters";
  }
  if (!window.confirm(`${action[0].toUpperCase()}${action.slice(1)} ${what}?`)) return;
  try {
    const answer = await api("/api/v1/jobs/bulk", { method: "POST", body: request });
    const problems = answer.results.filter((r) => !r.ok);
    let text = `${action}: ${answer.succeeded} done`;
    if (problems.length) text += `, ${problems.length} not possible (${problems[0].message}${problems.length > 1 ? ", …" : ""})`;
    if (answer.truncated) text += "; only the newest 10,000 matches were handled";
    await load();
    setStatus(statusLine, `${text}.`);
  } catch (error) {
    setStatus(statusLine, `Bulk ${action} failed: ${error.message}`);
  }
}

function syncSelection() {
  const count = selected.size;
  document.getElementById("selection").textContent = count ? `${count} selected` : "No job selected";
  for (const button of document.querySelectorAll('[data-scope="selection"]')) button.disabled = count === 0;
  for (const { job, row } of rows.values()) {
    const on = selected.has(job.jobId);
    row.classList.toggle("selected", on);
    row.querySelector('input[type="checkbox"]').checked = on;
  }
  selectAll.checked = count > 0 && count === rows.size;
  selectAll.indeterminate = count > 0 && count < rows.size;
}

function matches(job) {
  const s = state;
  if (s.status.length && !s.status.includes(job.status)) return false;
  for (const [key, field] of [["type", "type"], ["source", "source"], ["storeId", "storeId"], ["mode", "mode"]]) {
    if (s[key] && job[field] !== s[key]) return false;
  }
  if (s.q) {
    const text = s.q.toLowerCase();
    if (![job.name, job.description || "", job.type].some((v) => v.toLowerCase().includes(text))) return false;
  }
  return true;
}

function update(job) {
  const entry = rows.get(job.jobId);
  if (entry) {
    entry.job = job;
    fill(entry.row, job);
    return;
  }
  // A job that is new to this page: offer a reload rather than shifting rows under the cursor.
  if (state && state.offset === 0 && !state.sort && matches(job) && job.status === "pending") {
    newer += 1;
    statusLine.replaceChildren(
      `${newer} new job(s) match these filters. `,
      el("button", { type: "button", class: "link", text: "Show them", onclick: load }),
    );
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const next = fromForm();
  window.history.pushState(null, "", urlOf(next));
  load();
});
for (const link of [document.getElementById("prev"), document.getElementById("next")]) {
  link.addEventListener("click", (event) => {
    event.preventDefault();
    if (link.getAttribute("aria-disabled") === "true") return;
    window.history.pushState(null, "", link.getAttribute("href"));
    load();
    document.getElementById("main").focus();
  });
}
selectAll.addEventListener("change", () => {
  for (const id of rows.keys()) {
    if (selectAll.checked) selected.add(id);
    else selected.delete(id);
  }
  syncSelection();
});
for (const button of document.querySelectorAll("[data-bulk]")) {
  button.addEventListener("click", () => bulk(button.dataset.bulk, button.dataset.scope));
}
window.addEventListener("popstate", load);
live.on("job", update);
let connections = 0;
live.on("resync", () => {
  if (connections++ > 0) load(); // back after a disconnection: catch up
});
load();
