// wfsh web UI: the little that pages do live, in plain JavaScript (no
// build step). The runs table re-fetches its fragment; a run's page
// follows the run's events (server-sent events from the API, with the
// session cookie), recolours its graph, appends log lines and
// re-fetches its header and task runs. A session that ends (401) leads
// back to the login page with a message.
"use strict";

function toLogin() {
  location.assign("/login?m=expired&next=" + encodeURIComponent(location.pathname + location.search));
}

// refresh replaces el's content by the fragment at its data-refresh
// URL; it returns false once the session has ended.
async function refresh(el) {
  let resp;
  try {
    resp = await fetch(el.dataset.refresh, { credentials: "same-origin", headers: { "Accept": "text/html" } });
  } catch (e) {
    return true; // the server is away: try again later
  }
  if (resp.status === 401) { toLogin(); return false; }
  if (!resp.ok) return true;
  const html = await resp.text();
  // Keep the focus where it was, by id or by link target.
  const active = document.activeElement;
  const key = active && el.contains(active) ? (active.id || active.getAttribute("href")) : null;
  el.innerHTML = html;
  if (key) {
    const again = el.querySelector("#" + CSS.escape(key)) || el.querySelector('[href="' + CSS.escape(key) + '"]');
    if (again) again.focus();
  }
  return true;
}

function liveRuns(el) {
  const tick = async () => {
    if (document.hidden || await refresh(el)) setTimeout(tick, 2000);
  };
  setTimeout(tick, 2000);
}

// applyStates recolours the graph's nodes from the fragment's list.
function applyStates() {
  for (const li of document.querySelectorAll("#dag-states li")) {
    const g = document.getElementById("n" + li.dataset.i);
    if (!g) continue;
    setState(g, li.dataset.state);
    const text = g.querySelector("text");
    if (text && li.dataset.mapped) text.textContent = li.dataset.label;
  }
}

function setState(g, state) {
  for (const c of [...g.classList]) if (c.startsWith("st-")) g.classList.remove(c);
  g.classList.add("st-" + state);
  g.dataset.state = state;
}

function fmtTime(t) {
  return (t || "").replace("T", " ").replace(/\.\d+/, "").replace(/Z$|[+-]\d\d:\d\d$/, "");
}

function liveRun(el) {
  const log = document.getElementById("log");
  const status = document.getElementById("log-status");
  const select = document.getElementById("log-task");
  const tasks = document.getElementById("run-tasks");
  // A node of the graph by its run name, from the fragment's list.
  const byName = {};
  const nodeList = () => {
    for (const li of document.querySelectorAll("#dag-states li")) byName[li.dataset.name] = li.dataset.i;
  };
  nodeList();
  let source = null, pending = null, ended = false;
  const later = () => {
    if (pending) return;
    pending = setTimeout(async () => {
      pending = null;
      if (await refresh(el)) await refresh(tasks);
      nodeList();
      applyStates();
    }, 500);
  };
  const line = (ev) => {
    const li = document.createElement("li");
    const t = document.createElement("span"); t.className = "t"; t.textContent = fmtTime(ev.time);
    li.append(t);
    if (ev.task) {
      const k = document.createElement("span"); k.className = "task";
      k.textContent = ev.task + (ev.map_index >= 0 ? "[" + ev.map_index + "]" : ""); li.append(k);
    }
    const m = document.createElement("span");
    m.className = "lv-" + String(ev.level || "").toLowerCase();
    m.textContent = ev.kind === "task_log" || ev.kind === "flow_started" ? ev.msg :
      ev.kind + (ev.state ? " " + ev.state : "") + (ev.msg ? ": " + ev.msg : "");
    li.append(m);
    const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.append(li);
    if (atEnd) log.scrollTop = log.scrollHeight;
  };
  const open = () => {
    if (source) source.close();
    log.textContent = "";
    let url = log.dataset.events;
    if (select.value) url += "?task=" + encodeURIComponent(select.value);
    source = new EventSource(url, { withCredentials: true });
    status.textContent = "following the run…";
    source.addEventListener("event", (e) => {
      const ev = JSON.parse(e.data);
      line(ev);
      if (ev.task && ev.state && byName[ev.task] !== undefined) {
        const g = document.getElementById("n" + byName[ev.task]);
        if (g && ev.map_index < 0) setState(g, ev.state);
        else if (g && !["Success", "Failed", "Cancelled", "Crashed"].includes(g.dataset.state)) setState(g, "Running");
      }
      later();
    });
    source.addEventListener("end", (e) => {
      const end = JSON.parse(e.data);
      status.textContent = "the run ended: " + end.state;
      ended = true;
      source.close();
      later();
    });
    source.onerror = async () => {
      if (ended) return;
      source.close();
      status.textContent = "reconnecting…";
      if (await refresh(el)) setTimeout(open, 1000);
    };
  };
  select.addEventListener("change", open);
  open();
}

document.addEventListener("DOMContentLoaded", () => {
  const runs = document.getElementById("runs-live");
  if (runs) liveRuns(runs);
  const run = document.getElementById("run-live");
  if (run) liveRun(run);
});
