// One WebSocket per tab to /ws (docs/feed.md), shared by the toasts and the page.
//
// It reconnects by itself with exponential back-off (0.5 s doubling to 15 s, with
// jitter) and, on every (re)connection, subscribes with `since` = the last sequence
// number it saw: the server first sends the current state of everything that changed
// meanwhile, so a tab that slept or lived through a server restart misses no final
// state (docs/ui.md, "Live updates").

import { api } from "./api.js";

const handlers = { job: new Set(), cron: new Set(), execution: new Set(), state: new Set(), resync: new Set() };
const topics = new Set(["jobs"]);
let socket = null;
let lastSeq = null;
let attempt = 0;
let retryTimer = null;
let pingTimer = null;
let lastMessage = 0;
let started = false;

export function on(kind, fn) {
  handlers[kind].add(fn);
  return () => handlers[kind].delete(fn);
}

export function want(topic) {
  if (topics.has(topic)) return;
  topics.add(topic);
  if (socket && socket.readyState === WebSocket.OPEN && lastSeq !== null) subscribe();
}

export function start() {
  if (started) return;
  started = true;
  connect();
  // Coming back to a sleeping tab or a network: try at once rather than wait out a back-off.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") reconnectSoon();
  });
  window.addEventListener("online", reconnectSoon);
}

function emit(kind, value) {
  for (const fn of handlers[kind]) {
    try {
      fn(value);
    } catch (error) {
      console.error(error);
    }
  }
}

function connect() {
  window.clearTimeout(retryTimer);
  retryTimer = null;
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  let opened = false;
  emit("state", "connecting");
  const ws = new WebSocket(`${scheme}//${window.location.host}/ws`);
  socket = ws;
  ws.addEventListener("open", () => {
    opened = true;
    attempt = 0;
    lastMessage = Date.now();
    window.clearInterval(pingTimer);
    pingTimer = window.setInterval(keepAlive, 20000);
  });
  ws.addEventListener("message", (event) => {
    lastMessage = Date.now();
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    handle(message);
  });
  ws.addEventListener("close", () => {
    if (socket !== ws) return;
    socket = null;
    window.clearInterval(pingTimer);
    emit("state", "offline");
    if (!opened) checkSession();
    scheduleRetry();
  });
}

function handle(message) {
  switch (message.type) {
    case "connected":
      if (lastSeq === null) lastSeq = message.seq;
      subscribe();
      emit("state", "live");
      emit("resync", null);
      break;
    case "job_updates":
      for (const update of message.updates) handle(update);
      break;
    case "job_update":
      seen(message.seq);
      emit("job", message.job);
      break;
    case "cron_update":
      seen(message.seq);
      emit("cron", message.cron_job);
      break;
    case "execution_update":
      seen(message.seq);
      emit("execution", message.execution);
      break;
    case "error":
      console.warn("jobdeck live updates:", message.message);
      break;
    default:
      break;
  }
}

function seen(seq) {
  if (typeof seq === "number" && (lastSeq === null || seq > lastSeq)) lastSeq = seq;
}

function subscribe() {
  if (!socket || socket.readyState !== WebSocket.OPEN) return;
  socket.send(JSON.stringify({ type: "subscribe", since: lastSeq ?? 0, topics: [...topics], batch: true }));
}

function keepAlive() {
  if (!socket || socket.readyState !== WebSocket.OPEN) return;
  if (Date.now() - lastMessage > 50000) {
    socket.close();  // silent for too long: a dead connection the browser has not noticed
    return;
  }
  socket.send(JSON.stringify({ type: "ping" }));
}

function scheduleRetry() {
  if (retryTimer !== null) return;
  const base = Math.min(15000, 500 * 2 ** attempt);
  attempt += 1;
  const delay = base / 2 + Math.random() * (base / 2);
  retryTimer = window.setTimeout(connect, delay);
}

function reconnectSoon() {
  if (socket) return;
  window.clearTimeout(retryTimer);
  retryTimer = null;
  attempt = 0;
  connect();
}

async function checkSession() {
  // The handshake was refused or the server is down; a 401 here sends the tab to the
  // expired page (api.js), anything else keeps retrying.
  try {
    await api("/api/v1/jobs?limit=1");
  } catch {
    /* the server is away: the back-off goes on */
  }
}
