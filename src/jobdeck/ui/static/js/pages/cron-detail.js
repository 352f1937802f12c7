// One schedule: settings, next runs, configuration, executions (durations, links to
// their jobs) following the `cron` topic live; pause, resume, run now, delete.

import { api, ApiError } from "../api.js";
import { badge, duration, el, json, setStatus, timeEl, when } from "../format.js";
import * as live from "../live.js";

const root = document.getElementById("cron");
const cronId = Number(root.dataset.cronId);
const base = `/api/cron-jobs/${cronId}`;
const statusLine = document.getElementById("cron-action-status");
const execBody = document.getElementById("executions");
const PAGE = 20;
let page = 1;
let pages = 1;
const execRows = new Map();

function stateOf(cron) {
  if (!cron.is_active) return "inactive";
  return cron.is_paused ? "paused" : "active";
}

function field(name, value) {
  const dd = el("dd");
  if (value instanceof Node) dd.append(value);
  else dd.textContent = value === null || value === undefined || value === "" ? "—" : String(value);
  return [el("dt", { text: name }), dd];
}

function render(cron) {
  document.title = `${cron.name} · jobdeck`;
  document.getElementById("cron-name").textContent = cron.name;
  document.getElementById("cron-human").textContent = `${cron.description_human} (${cron.timezone})`;
  const rows = [
    field("State", badge(stateOf(cron))),
    field("Expression", el("code", { text: cron.cron_expression })),
    field("Job type", cron.job_type),
    field("Description", cron.description),
    field("Next run", timeEl(cron.next_run_at)),
    field("Last run", cron.last_run_at ? el("span", {}, cron.last_status ? badge(cron.last_status) : "", " ", timeEl(cron.last_run_at)) : "never"),
    field("Last error", cron.last_error),
    field("Runs", `${cron.run_count} (${cron.success_count} succeeded, ${cron.failure_count} failed)`),
    field("Failures in a row", `${cron.consecutive_failures} (pauses at ${cron.max_failures ?? "never"})`),
    field("Priority · retries", `${cron.priority} · ${cron.max_retries}`),
    field("Timeout", `${cron.timeout_seconds} s`),
    field("Missed runs · overlap", `${cron.misfire_policy} · ${cron.overlap_policy}`),
    field("Plugin · store", [cron.plugin_id, cron.store_id].filter(Boolean).join(" · ")),
    field("Created by", cron.created_by),
    field("Created", when(cron.created_at)),
  ];
  document.getElementById("cron-fields").replaceChildren(...rows.flat());
  const next = document.getElementById("next-runs");
  next.replaceChildren(...(cron.next_runs.length ? cron.next_runs.map((t) => el("li", {}, timeEl(t, false))) : [el("li", { class: "muted", text: "none while paused or inactive" })]));
  document.getElementById("configuration").textContent = json(cron.configuration);
  const actions = document.getElementById("cron-actions");
  if (actions) {
    actions.querySelector('[data-action="pause"]').hidden = cron.is_paused || !cron.is_active;
    actions.querySelector('[data-action="resume"]').hidden = !cron.is_paused;
  }
}

function execRow(exec) {
  let row = execRows.get(exec.id);
  if (!row) {
    row = el("tr", { dataset: { executionId: exec.id } });
    execRows.set(exec.id, row);
  }
  const job = exec.job_id
    ? el("a", { href: `/jobs/${encodeURIComponent(exec.job_id)}`, text: exec.job ? exec.job.name || "job" : "job", "aria-label": `Job of the run scheduled for ${when(exec.scheduled_for)}` })
    : el("span", { class: "muted", text: "—" });
  row.replaceChildren(
    el("td", {}, timeEl(exec.scheduled_for, false)),
    el("td", { text: exec.triggered_by }),
    el("td", {}, badge(exec.status), exec.error_message ? el("span", { class: "sub", text: exec.error_message }) : ""),
    el("td", {}, timeEl(exec.started_at)),
    el("td", { text: exec.duration_ms === null ? (exec.status === "running" ? "running…" : "—") : duration(exec.duration_ms) }),
    el("td", {}, job),
  );
  return row;
}

let execLoads = 0;

async function executions() {
  // Only the latest request paints: an older answer must not wipe a newer run.
  const mine = ++execLoads;
  const answer = await api(`${base}/executions?page=${page}&limit=${PAGE}`);
  if (mine !== execLoads) return;
  const { executions: list, pagination } = answer.data;
  pages = Math.max(1, pagination.total_pages);
  execRows.clear();
  execBody.replaceChildren(...list.map(execRow));
  if (!list.length) execBody.append(el("tr", {}, el("td", { colspan: 6, class: "muted", text: "No run yet." })));
  document.getElementById("exec-range").textContent = `page ${page} of ${pages} · ${pagination.total} runs`;
  document.getElementById("exec-prev").disabled = page <= 1;
  document.getElementById("exec-next").disabled = page >= pages;
}

async function load() {
  try {
    const answer = await api(base);
    render(answer.job);
    await executions();
  } catch (error) {
    const text = error instanceof ApiError && error.status === 404 ? "No schedule with this id is visible to you." : `Could not load the schedule: ${error.message}`;
    document.getElementById("cron-load-error").textContent = text;
  }
}

async function act(action) {
  if (action === "delete" && !window.confirm("Delete this schedule and its execution history? Its jobs stay.")) return;
  try {
    if (action === "delete") {
      await api(base, { method: "DELETE" });
      window.location.assign("/cron");
      return;
    }
    const answer = await api(`${base}/${action}`, { method: "POST" });
    if (answer.job) render(answer.job);
    if (action === "execute") {
      const exec = answer.execution;
      statusLine.replaceChildren(
        "Running now. ",
        exec.job_id ? el("a", { href: `/jobs/${encodeURIComponent(exec.job_id)}`, text: "Follow its job", id: "follow-job" }) : "",
      );
      page = 1;
      await executions();
    } else {
      setStatus(statusLine, `The schedule is ${stateOf(answer.job)}.`);
    }
  } catch (error) {
    setStatus(statusLine, `Could not ${action}: ${error.message}`);
  }
}

for (const button of document.querySelectorAll("#cron-actions [data-action]")) {
  button.addEventListener("click", () => act(button.dataset.action));
}
document.getElementById("exec-prev").addEventListener("click", () => { page -= 1; executions(); });
document.getElementById("exec-next").addEventListener("click", () => { page += 1; executions(); });
live.want("cron");
live.on("cron", (cron) => {
  if (cron.id === cronId) render(cron);
});
live.on("execution", (exec) => {
  if (exec.cron_job_id !== cronId) return;
  if (execRows.has(exec.id)) execRow(exec);
  else if (page === 1) {
    const empty = execBody.querySelector("td[colspan]");
    if (empty) empty.parentElement.remove();
    execBody.prepend(execRow(exec));
  }
});
load();
