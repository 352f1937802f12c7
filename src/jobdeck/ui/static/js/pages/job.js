// Job detail: every field, payload, metadata, result, error, attempts, the history
// growing live (GET …/history?after=<last event id> on each update), the schedule
// that created it, and its actions.

import { api, ApiError } from "../api.js";
import { badge, el, eta, json, percent, setStatus, TERMINAL, timeEl, when } from "../format.js";
import * as live from "../live.js";

const root = document.getElementById("job");
const jobId = root.dataset.jobId;
const base = `/api/v1/jobs/${encodeURIComponent(jobId)}`;
const historyList = document.getElementById("history");
const actionStatus = document.getElementById("job-action-status");
let lastEvent = null;
let fetching = null;
let again = false;
let current = null;

function field(name, value) {
  const dd = el("dd");
  if (value instanceof Node) dd.append(value);
  else dd.textContent = value === null || value === undefined || value === "" ? "—" : String(value);
  return [el("dt", { text: name }), dd];
}

function render(job) {
  current = job;
  document.title = `${job.name} · jobdeck`;
  document.getElementById("job-name").textContent = job.name;
  document.getElementById("job-status").replaceWith(Object.assign(badge(job.status), { id: "job-status" }));
  const bar = document.getElementById("job-progress");
  bar.value = Math.max(0, Math.min(100, Number(job.progress) || 0));
  bar.setAttribute("aria-label", `Progress of ${job.name}`);
  document.getElementById("job-percent").textContent = percent(job.progress);
  const etaText = job.status === "running" ? eta(job.etaSeconds) : "";
  document.getElementById("job-message").textContent = [job.progressMessage, etaText].filter(Boolean).join(" · ");
  const errorSection = document.getElementById("error-section");
  errorSection.hidden = !job.errorMessage;
  document.getElementById("job-error").textContent = job.errorMessage || "";
  const schedule = job.cronJobId ? el("a", { href: `/cron/${job.cronJobId}`, text: `schedule #${job.cronJobId}` }) : null;
  const rows = [
    field("Job id", el("code", { text: job.jobId })),
    field("Description", job.description),
    field("Type", job.type),
    field("Mode", job.mode),
    field("Priority", job.priority),
    field("Attempts", `${job.attempt} of ${job.mode === "queued" ? job.maxRetries + 1 : 1}`),
    field("Source", job.source),
    field("Plugin", job.pluginId),
    field("Store", job.storeId),
    field("User", job.userId),
    field("Created by schedule", schedule),
    field("Toasts", job.showNotification ? "shown" : "hidden"),
    field("Timeout", job.timeoutSeconds ? `${job.timeoutSeconds} s` : "none"),
    field("Rate", job.rate ? `${Number(job.rate).toFixed(2)} %/s` : null),
    field("Run at", when(job.runAt)),
    field("Created", when(job.createdAt)),
    field("Started", when(job.startedAt)),
    field("Finished", when(job.completedAt)),
    field("Updated", timeEl(job.updatedAt)),
  ];
  if (job.createdBy) rows.splice(11, 0, field("Created by", job.createdBy));
  document.getElementById("fields").replaceChildren(...rows.flat());
  document.getElementById("payload").textContent = json(job.payload);
  document.getElementById("metadata").textContent = json(job.metadata);
  document.getElementById("result").textContent = json(job.result);
  const actions = document.getElementById("job-actions");
  if (actions) {
    actions.querySelector('[data-action="cancel"]').hidden = TERMINAL.has(job.status) || job.status === "cancelling";
    actions.querySelector('[data-action="retry"]').hidden = !(job.mode === "queued" && ["failed", "cancelled"].includes(job.status));
    actions.querySelector('[data-action="delete"]').hidden = !TERMINAL.has(job.status);
  }
}

function addEvents(events) {
  for (const event of events) {
    if (lastEvent !== null && event.id <= lastEvent) continue;
    lastEvent = event.id;
    const data = event.data && Object.keys(event.data).length ? ` ${JSON.stringify(event.data)}` : "";
    historyList.append(
      el(
        "li",
        { dataset: { eventId: event.id } },
        timeEl(event.createdAt, false),
        el("span", { class: "kind", text: event.kind }),
        el("span", { text: (event.message || "") + data }),
      ),
    );
  }
  historyList.scrollTop = historyList.scrollHeight;
}

async function history() {
  // One request at a time; an update during it asks for one more pass.
  if (fetching) {
    again = true;
    return fetching;
  }
  fetching = (async () => {
    do {
      again = false;
      const after = lastEvent === null ? "" : `?after=${lastEvent}`;
      const answer = await api(`${base}/history${after}`);
      addEvents(answer.data);
    } while (again);
  })();
  try {
    await fetching;
  } finally {
    fetching = null;
  }
}

async function load() {
  try {
    const answer = await api(base);
    render(answer.data);
    await history();
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      document.getElementById("job-name").textContent = "Job not found";
      document.getElementById("job-error-load").textContent = "No job with this id is visible to you (it may have been deleted).";
    } else {
      document.getElementById("job-error-load").textContent = `Could not load the job: ${error.message}`;
    }
  }
}

async function act(action) {
  if (action === "delete" && !window.confirm(`Delete the job “${current.name}”?`)) return;
  try {
    if (action === "delete") {
      await api(base, { method: "DELETE" });
      window.location.assign("/jobs");
      return;
    }
    const answer = await api(`${base}/${action}`, { method: "POST" });
    render(answer.data);
    setStatus(actionStatus, `The job is ${answer.data.status}.`);
  } catch (error) {
    setStatus(actionStatus, `Could not ${action}: ${error.message}`);
  }
}

for (const button of document.querySelectorAll("#job-actions [data-action]")) {
  button.addEventListener("click", () => act(button.dataset.action));
}
live.on("job", (job) => {
  if (job.jobId !== jobId) return;
  render(job);
  history().catch(() => {});
});
let connections = 0;
live.on("resync", () => {
  if (connections++ > 0) load();
});
load();
