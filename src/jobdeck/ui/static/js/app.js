// Runs on every signed-in page: the live connection, the toasts, logout.

import { api } from "./api.js";
import * as live from "./live.js";
import * as toasts from "./toasts.js";

function showState(state) {
  const node = document.getElementById("live-state");
  if (!node) return;
  const label = { live: "Live", connecting: "Connecting…", offline: "Reconnecting…" }[state] || state;
  node.textContent = label;
  node.className = `live-state ${state}`;
}

async function loadActive() {
  // Jobs already running when the page opens toast too; later ones arrive live.
  try {
    const page = await api("/api/v1/jobs?status=running,cancelling&limit=20&sort=-updatedAt");
    for (const job of page.data.reverse()) toasts.update(job);
  } catch (error) {
    console.warn(error);
  }
}

function setUp() {
  toasts.init();
  live.on("job", toasts.update);
  live.on("state", showState);
  live.start();
  loadActive();
  const logout = document.getElementById("logout");
  if (logout) {
    logout.addEventListener("click", async () => {
      try {
        await api("/api/v1/session", { method: "DELETE" });
      } finally {
        window.location.assign("/login");
      }
    });
  }
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUp);
else setUp();
