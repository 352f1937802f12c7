// Schedules: name, expression and its human description, next run, last status;
// pause, resume, run now, delete. Rows follow the `cron` topic live.

import { api, query } from "../api.js";
import { badge, el, setStatus, timeEl } from "../format.js";
import * as live from "../live.js";

const form = document.getElementById("cron-filters");
const body = document.getElementById("crons");
const statusLine = document.getElementById("cron-status");
const principal = JSON.parse(document.getElementById("principal").textContent);
const rows = new Map();
let state = null;

function fromUrl() {
  const params = new URLSearchParams(window.location.search);
  return { search: params.get("search") || "", status: params.get("status") || "", page: Math.max(1, Number(params.get("page")) || 1) };
}

export function stateOf(cron) {
  if (!cron.is_active) return "inactive";
  return cron.is_paused ? "paused" : "active";
}

async function load() {
  state = fromUrl();
  form.elements.search.value = state.search;
  form.elements.status.value = state.status;
  const answer = await api(`/api/cron-jobs${query({ ...state, limit: 20, sort_by: "name", sort_order: "asc" })}`);
  const { cron_jobs: crons, pagination } = answer.data;
  rows.clear();
  body.replaceChildren(...crons.map(rowOf));
  const first = pagination.total ? (pagination.current_page - 1) * pagination.per_page + 1 : 0;
  const range = `${first}–${first + crons.length - (crons.length ? 1 : 0)} of ${pagination.total} schedules`;
  document.getElementById("range").textContent = range;
  document.getElementById("cron-caption").textContent = pagination.total ? `Schedules ${range}` : "No schedule yet.";
  const prev = document.getElementById("prev");
  const next = document.getElementById("next");
  prev.href = `/cron${query({ ...state, page: state.page - 1 })}`;
  next.href = `/cron${query({ ...state, page: state.page + 1 })}`;
  prev.setAttribute("aria-disabled", String(state.page <= 1));
  next.setAttribute("aria-disabled", String(state.page >= pagination.total_pages));
}

function rowOf(cron) {
  const row = el("tr", { dataset: { cronId: cron.id } });
  rows.set(cron.id, row);
  fill(row, cron);
  return row;
}

function fill(row, cron) {
  const last = cron.last_run_at
    ? el("span", {}, cron.last_status ? badge(cron.last_status) : "", " ", timeEl(cron.last_run_at))
    : el("span", { class: "muted", text: "never" });
  const actions = el("td", { class: "actions-cell" });
  if (principal.cron_write) {
    const toggle = cron.is_paused ? "resume" : "pause";
    for (const [action, label] of [[toggle, toggle === "pause" ? "Pause" : "Resume"], ["execute", "Run now"], ["delete", "Delete"]]) {
      actions.append(el("button", { type: "button", "aria-label": `${label} ${cron.name}`, text: label, onclick: () => act(action, cron) }));
    }
  }
  row.replaceChildren(
    el("td", {}, el("a", { href: `/cron/${cron.id}`, text: cron.name }), el("span", { class: "sub", text: cron.job_type })),
    el("td", {}, el("code", { text: cron.cron_expression }), el("span", { class: "sub", text: `${cron.description_human} (${cron.timezone})` })),
    el("td", {}, timeEl(cron.next_run_at)),
    el("td", {}, last),
    el("td", {}, badge(stateOf(cron))),
    actions,
  );
}

async function act(action, cron) {
  if (action === "delete" && !window.confirm(`Delete the schedule “${cron.name}” and its execution history?`)) return;
  try {
    if (action === "delete") {
      await api(`/api/cron-jobs/${cron.id}`, { method: "DELETE" });
      rows.get(cron.id)?.remove();
      setStatus(statusLine, `Deleted “${cron.name}”.`);
      return;
    }
    const answer = await api(`/api/cron-jobs/${cron.id}/${action}`, { method: "POST" });
    if (answer.job) fill(rows.get(cron.id), answer.job);
    if (action === "execute") {
      const exec = answer.execution;
      statusLine.replaceChildren(
        `“${cron.name}” is running now. `,
        exec.job_id ? el("a", { href: `/jobs/${encodeURIComponent(exec.job_id)}`, text: "Follow its job" }) : "",
      );
    } else {
      setStatus(statusLine, `“${cron.name}” is ${stateOf(answer.job)}.`);
    }
  } catch (error) {
    setStatus(statusLine, `Could not ${action} “${cron.name}”: ${error.message}`);
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const next = { search: form.elements.search.value.trim(), status: form.elements.status.value };
  window.history.pushState(null, "", `/cron${query(next)}`);
  load();
});
for (const link of [document.getElementById("prev"), document.getElementById("next")]) {
  link.addEventListener("click", (event) => {
    event.preventDefault();
    if (link.getAttribute("aria-disabled") === "true") return;
    window.history.pushState(null, "", link.getAttribute("href"));
    load();
  });
}
window.addEventListener("popstate", load);
live.want("cron");
live.on("cron", (cron) => {
  const row = rows.get(cron.id);
  if (row) fill(row, cron);
});
load().catch((error) => setStatus(statusLine, `Could not load schedules: ${error.message}`));
