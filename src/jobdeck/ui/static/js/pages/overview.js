// Overview: counts by status, jobs finished per minute over the last hour (an SVG
// chart drawn here), workers alive and what they run. Refreshed every 10 s and soon
// after live updates.

import { api } from "../api.js";
import { el, percent, timeEl } from "../format.js";
import * as live from "../live.js";

const STATUSES = ["pending", "running", "cancelling", "completed", "failed", "cancelled"];
const SVG = "http://www.w3.org/2000/svg";
let pending = null;

async function counts() {
  const answer = await api("/api/v1/stats/counts");
  const list = document.getElementById("counts");
  list.replaceChildren(
    ...STATUSES.map((status) =>
      el(
        "li",
        {},
        el(
          "a",
          { href: `/jobs?status=${status}` },
          el("span", { class: "n", text: (answer.data[status] || 0).toLocaleString() }),
          el("span", { class: `badge ${status}`, text: status }),
        ),
      ),
    ),
  );
  list.removeAttribute("aria-busy");
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

async function throughput() {
  const answer = await api("/api/v1/stats/throughput?minutes=60");
  const rate = answer.failureRate === null ? "no runs finished" : `${(answer.failureRate * 100).toFixed(1)}% failed`;
  const perMinute = ((answer.completed + answer.failed + answer.cancelled) / answer.minutes).toFixed(1);
  document.getElementById("throughput-summary").textContent =
    `${answer.completed.toLocaleString()} completed, ${answer.failed.toLocaleString()} failed, ` +
    `${answer.cancelled.toLocaleString()} cancelled in the last ${answer.minutes} minutes ` +
    `(${perMinute} a minute; failure rate ${rate}).`;
  // The box's own pixel width: text keeps its shape (no stretching of the drawing).
  const width = Math.max(300, Math.round(document.getElementById("chart").clientWidth - 16));
  const height = 180;
  const left = 34;
  const bottom = 18;
  const max = Math.max(1, ...answer.data.map((m) => m.completed + m.failed + m.cancelled));
  const step = (width - left) / answer.data.length;
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": `Jobs finished per minute over the last hour: ${answer.completed} completed, ${answer.failed} failed, ${answer.cancelled} cancelled`,
  });
  const scale = (n) => ((height - bottom - 6) * n) / max;
  chart.append(svg("line", { class: "axis", x1: left, y1: height - bottom, x2: width, y2: height - bottom }));
  for (const [label, n] of [[String(max), max], ["0", 0]]) {
    const text = svg("text", { x: left - 4, y: height - bottom - scale(n) + 4, "text-anchor": "end" });
    text.textContent = label;
    chart.append(text);
  }
  answer.data.forEach((minute, i) => {
    let y = height - bottom;
    for (const kind of ["completed", "failed", "cancelled"]) {
      const h = scale(minute[kind]);
      if (h <= 0) continue;
      y -= h;
      const bar = svg("rect", { class: kind, x: left + i * step + 1, y, width: Math.max(1, step - 2), height: h });
      const title = svg("title");
      title.textContent = `${new Date(minute.minute).toLocaleTimeString()}: ${minute[kind]} ${kind}`;
      bar.append(title);
      chart.append(bar);
    }
  });
  for (const [i, label] of [[0, "60 min ago"], [answer.data.length - 1, "now"]]) {
    const text = svg("text", { x: left + i * step + (i ? step : 0), y: height - 4, "text-anchor": i ? "end" : "start" });
    text.textContent = label;
    chart.append(text);
  }
  document.getElementById("chart").replaceChildren(chart);
}

async function workers() {
  const answer = await api("/api/v1/workers");
  const body = document.getElementById("workers");
  if (!answer.data.length) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "muted", text: "No worker has reported in the last three heartbeats." })));
    return;
  }
  body.replaceChildren(
    ...answer.data.map((w) =>
      el(
        "tr",
        {},
        el("td", {}, el("code", { text: w.workerId })),
        el("td", { text: `${w.host} · ${w.pid}` }),
        el("td", { text: `${w.running.length + w.hidden} / ${w.concurrency}` }),
        el(
          "td",
          {},
          w.running.length || w.hidden
            ? el(
                "ul",
                { class: "plain" },
                ...w.running.map((job) =>
                  el("li", {}, el("a", { href: `/jobs/${encodeURIComponent(job.jobId)}`, text: job.name }), ` ${percent(job.progress)}`),
                ),
                w.hidden ? el("li", { class: "muted", text: `${w.hidden} other job(s)` }) : null,
              )
            : el("span", { class: "muted", text: "idle" }),
        ),
        el("td", {}, timeEl(w.lastSeenAt)),
      ),
    ),
  );
}

async function refresh() {
  pending = null;
  await Promise.allSettled([counts(), throughput(), workers()]);
}

function soon() {
  if (pending === null) pending = window.setTimeout(refresh, 1500);
}

refresh();
window.setInterval(refresh, 10000);
live.on("job", soon);
