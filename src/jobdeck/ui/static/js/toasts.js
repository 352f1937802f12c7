// Job toasts on every page (docs/ui.md, "Live updates and toasts"): a stack at the bottom right.
// Each shows the job's icon, name, description, status, a live progress bar with
// percent, message and ETA, and the error when failed. Completed (and cancelled) jobs
// leave after 5 s; failed ones stay until dismissed. Jobs with showNotification false
// never toast. More than MAX_SHOWN at once collapse into a summary line.

import { el, eta, percent, TERMINAL } from "./format.js";

const LEAVE_AFTER = 5000;
const MAX_SHOWN = 4;
const DISMISSED_KEY = "jobdeck.dismissed";

const toasts = new Map(); // jobId -> { job, node, timer }
let list = null;
let announcer = null;
let expanded = false;
const dismissed = new Set(JSON.parse(window.sessionStorage.getItem(DISMISSED_KEY) || "[]"));

export function init() {
  list = document.getElementById("toasts");
  announcer = document.getElementById("toast-announcer");
}

export function update(job) {
  if (!list || !job || !job.jobId) return;
  const id = job.jobId;
  if (job.showNotification === false) {
    remove(id);
    return;
  }
  const terminal = TERMINAL.has(job.status);
  if (dismissed.has(id)) {
    if (terminal) return;
    dismissed.delete(id); // retried: it is news again
    saveDismissed();
  }
  let entry = toasts.get(id);
  const previous = entry ? entry.job.status : null;
  if (!entry) {
    if (terminal && job.status === "completed" && !isRecent(job)) return; // old news
    entry = { job, node: build(job), timer: null };
    toasts.set(id, entry);
    list.prepend(entry.node);
  }
  entry.job = job;
  fill(entry.node, job);
  if (terminal && previous !== job.status) announce(job);
  window.clearTimeout(entry.timer);
  entry.timer = null;
  if (job.status === "completed" || job.status === "cancelled") {
    entry.timer = window.setTimeout(() => remove(id), LEAVE_AFTER);
  }
  layout();
}

function isRecent(job) {
  const at = job.completedAt || job.updatedAt;
  return at && Date.now() - new Date(at).getTime() < LEAVE_AFTER * 2;
}

function build(job) {
  const icon = job.iconSvg
    ? el("img", { src: `/api/v1/jobs/${encodeURIComponent(job.jobId)}/icon.svg`, alt: "", width: 32, height: 32 })
    : el("span", { class: "dot", "aria-hidden": "true" });
  const name = el("a", { href: `/jobs/${encodeURIComponent(job.jobId)}` });
  const close = el("button", { type: "button", class: "close", "aria-label": `Dismiss ${job.name}`, text: "×" });
  close.addEventListener("click", () => dismiss(job.jobId));
  const bar = el("progress", { max: 100, value: 0, "aria-label": `Progress of ${job.name}` });
  return el(
    "li",
    { class: "toast", dataset: { jobId: job.jobId } },
    icon,
    el(
      "div",
      { class: "body" },
      el("div", { class: "name" }, name),
      el("p", { class: "desc" }),
      el("div", { class: "line" }, el("span", { class: "status badge" }), bar, el("span", { class: "pct" })),
      el("p", { class: "msg" }),
      el("p", { class: "eta" }),
      el("p", { class: "err" }),
    ),
    close,
  );
}

function fill(node, job) {
  node.className = `toast ${job.status}`;
  node.querySelector(".name a").textContent = job.name;
  const desc = node.querySelector(".desc");
  desc.textContent = job.description || "";
  desc.hidden = !job.description;
  const status = node.querySelector(".status");
  status.textContent = job.status;
  status.className = `status badge ${job.status}`;
  const bar = node.querySelector("progress");
  bar.value = Math.max(0, Math.min(100, Number(job.progress) || 0));
  bar.setAttribute("aria-valuetext", percent(job.progress));
  node.querySelector(".pct").textContent = percent(job.progress);
  const msg = node.querySelector(".msg");
  msg.textContent = job.progressMessage || "";
  msg.hidden = !job.progressMessage;
  const etaNode = node.querySelector(".eta");
  etaNode.textContent = job.status === "running" ? eta(job.etaSeconds) : "";
  etaNode.hidden = !etaNode.textContent;
  const err = node.querySelector(".err");
  err.textContent = job.status === "failed" ? job.errorMessage || "Failed" : "";
  err.hidden = !err.textContent;
}

function announce(job) {
  if (!announcer) return;
  const text =
    job.status === "failed" ? `${job.name} failed: ${job.errorMessage || ""}` : `${job.name} ${job.status}`;
  announcer.textContent = text;
}

export function dismiss(id) {
  dismissed.add(id);
  saveDismissed();
  remove(id);
}

function saveDismissed() {
  const recent = [...dismissed].slice(-500);
  window.sessionStorage.setItem(DISMISSED_KEY, JSON.stringify(recent));
}

function remove(id) {
  const entry = toasts.get(id);
  if (!entry) return;
  window.clearTimeout(entry.timer);
  const hadFocus = entry.node.contains(document.activeElement);
  entry.node.remove();
  toasts.delete(id);
  layout();
  if (hadFocus) {
    const next = list.querySelector(".toast .close");
    (next || document.getElementById("main")).focus();
  }
}

function layout() {
  // Newest first; past MAX_SHOWN the rest fold into one summary line.
  const nodes = [...list.querySelectorAll("li.toast:not(.summary)")];
  let summary = list.querySelector("li.summary");
  const hidden = expanded ? [] : nodes.slice(MAX_SHOWN - 1);
  nodes.forEach((node) => {
    node.hidden = hidden.includes(node);
  });
  if (nodes.length <= MAX_SHOWN) {
    expanded = false;
    nodes.forEach((node) => {
      node.hidden = false;
    });
    if (summary) summary.remove();
    return;
  }
  if (!summary) {
    summary = el(
      "li",
      { class: "toast summary" },
      el("p", { class: "summary-text" }),
      el("button", { type: "button", class: "toggle" }),
    );
    summary.querySelector("button").addEventListener("click", () => {
      expanded = !expanded;
      layout();
    });
  }
  list.append(summary);
  const counted = {};
  const group = expanded ? nodes : hidden;
  for (const node of group) {
    const status = toasts.get(node.dataset.jobId)?.job.status || "pending";
    counted[status] = (counted[status] || 0) + 1;
  }
  const parts = Object.entries(counted).map(([status, n]) => `${n} ${status}`);
  summary.querySelector(".summary-text").textContent = expanded
    ? `${nodes.length} jobs`
    : `${hidden.length} more jobs: ${parts.join(", ")}`;
  summary.querySelector(".toggle").textContent = expanded ? "Show fewer" : "Show all";
  summary.querySelector(".toggle").setAttribute("aria-expanded", String(expanded));
}
