// wfsh web UI: what htmx does not do, in plain JavaScript (no build
// step). htmx (static/vendor) fetches and swaps the parts of pages
// (filters, pages, refreshes, forms) and its SSE extension the runs
// table the server pushes. A run's page follows the run's events
// (server-sent events from the API, with the session cookie), from the
// last lines of its log: this file keeps the log's lines (a capped
// buffer, a task filter and a search), recolours the graph's nodes and
// asks htmx to fetch the header and task runs again after events. A
// session that ends leads back to the login page with a message (htmx
// by the server's HX-Redirect, the streams here).
"use strict";

function toLogin() {
  location.assign("/login?m=expired&next=" + encodeURIComponent(location.pathname + location.search));
}

// A stream of the UI's says when the session has ended.
document.addEventListener("htmx:sseOpen", (e) => e.detail.source.addEventListener("ended", toLogin));

// The parts that refresh themselves (hx-trigger "every ...") skip their
// turns while the tab is hidden.
document.addEventListener("htmx:beforeRequest", (e) => {
  if (document.hidden && /\bevery\b/.test(e.detail.elt.getAttribute("hx-trigger") || "")) e.preventDefault();
});

// fetchPart has htmx fetch el's part of the page at url into it (the
// server answers the part of the element htmx names): a promise, kept
// once it is in place or given up. el's hx-sync drops it while another
// fetch into el is under way, and a page of the timeline clicked aborts
// it (the click's is newer); a server away is tried again later.
function fetchPart(el, url) {
  return htmx.ajax("GET", url, { source: el, target: el, swap: "innerHTML" }).catch(() => {});
}

function setState(g, state) {
  for (const c of [...g.classList]) if (c.startsWith("st-")) g.classList.remove(c);
  g.classList.add("st-" + state);
  g.dataset.state = state;
}

function fmtTime(t) {
  return (t || "").replace("T", " ").replace(/\.\d+/, "").replace(/Z$|[+-]\d\d:\d\d$/, "");
}

const finalStates = new Set(["Success", "Failed", "TriggerFailed", "Skipped", "Mapped", "Cached", "TimedOut", "Cancelled", "Crashed"]);
const failedStates = new Set(["Failed", "TriggerFailed", "TimedOut", "Cancelled", "Crashed"]);

// maxLogLines bounds the lines the page keeps (the oldest go first).
const maxLogLines = 5000;
// tailLines is how many of a run's last lines the page starts with
// (tail=): laying out 5,000 at once kept W3's page busy for 0.4-0.6 s.
const tailLines = 1000;

function liveRun(el) {
  const log = document.getElementById("log");
  const status = document.getElementById("log-status");
  const earlier = document.getElementById("log-earlier");
  const select = document.getElementById("log-task");
  const tasks = document.getElementById("run-tasks");
  const search = document.getElementById("log-search");
  const shown = (li) => { li.hidden = search.value !== "" && !li.textContent.toLowerCase().includes(search.value.toLowerCase()); };
  search.addEventListener("input", () => { for (const li of log.children) shown(li); });
  // The graph's nodes, in order: [run name, mapped, layer, state]; node
  // i is the SVG group n<i>, or counts in the group L<layer> of a graph
  // drawn by layers. A mapped node counts its children as events come.
  const nodes = JSON.parse(document.getElementById("dag-nodes").textContent || "[]");
  const byName = new Map(nodes.map((n, i) => [n[0], i]));
  const total = new Map(), done = new Map();
  const label = (i) => {
    const text = document.querySelector("#n" + i + " text");
    if (text) text.textContent = nodes[i][0] + " " + (done.get(i) || new Set()).size + "/" + (total.get(i) || 0);
  };
  // After each refresh of the task runs: the mapped nodes' counts and
  // states, from the server's sums (their children's states are not in
  // the event stream).
  const mappedSums = () => {
    const el = tasks.querySelector("script.mapped-sums");
    for (const [name, state, d, n] of JSON.parse((el && el.textContent) || "[]")) {
      const i = byName.get(name);
      const g = i === undefined ? null : document.getElementById("n" + i);
      if (!g) continue;
      setState(g, state);
      const text = g.querySelector("text");
      if (text) text.textContent = name + " " + d + "/" + n;
    }
  };
  const layerDirty = new Set();
  const redrawLayers = () => {
    for (const l of layerDirty) {
      const g = document.getElementById("L" + l);
      if (!g) continue;
      let n = 0, finished = 0, failed = 0, started = 0;
      for (const x of nodes) {
        if (x[2] !== l) continue;
        n++;
        if (finalStates.has(x[3])) finished++;
        if (failedStates.has(x[3])) failed++;
        if (x[3] !== "Pending") started++;
      }
      setState(g, failed ? "Failed" : finished === n ? "Success" : started ? "Running" : "Pending");
      const count = g.querySelector("text.count");
      if (count) count.textContent = finished + "/" + n + " done";
    }
    layerDirty.clear();
  };
  const graph = (ev) => {
    const i = byName.get(ev.task);
    if (i === undefined) return;
    if (nodes[i][2] >= 0) { // drawn by layers
      if (ev.kind === "task_state" && ev.map_index < 0) {
        nodes[i][3] = ev.state;
        if (layerDirty.size === 0) requestAnimationFrame(redrawLayers);
        layerDirty.add(nodes[i][2]);
      }
      return;
    }
    const g = document.getElementById("n" + i);
    if (!g) return;
    if (ev.kind === "map_expanded") {
      total.set(i, ev.children);
      label(i);
    } else if (ev.kind === "task_state" && ev.map_index < 0) {
      setState(g, ev.state);
    } else if (ev.kind === "task_state") {
      if (finalStates.has(ev.state)) {
        if (!done.has(i)) done.set(i, new Set());
        done.get(i).add(ev.map_index);
        label(i);
      }
      if (!finalStates.has(g.dataset.state)) setState(g, "Running");
    }
  };
  // The events the stream replays (the log's last lines, written before
  // it opened) change the graph once, at the end: the last state of each
  // task that has a node. The server drew the graph, and its mapped
  // nodes' counts come with the refresh of the task runs that follows.
  const replayGraph = (evs) => {
    const last = new Map();
    for (const ev of evs) {
      const i = byName.get(ev.task);
      if (i === undefined) continue;
      if (ev.kind === "map_expanded") total.set(i, ev.children);
      else if (ev.kind === "task_state" && ev.map_index < 0) last.set(i, ev.state);
    }
    for (const [i, state] of last) {
      if (nodes[i][2] >= 0) { // drawn by layers
        nodes[i][3] = state;
        layerDirty.add(nodes[i][2]);
        continue;
      }
      const g = document.getElementById("n" + i);
      if (g) setState(g, state);
    }
    redrawLayers();
  };
  // Log lines are added once a frame, however fast events come.
  let queue = [];
  const flush = () => {
    const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    append(queue.splice(0));
    if (atEnd) log.scrollTop = log.scrollHeight;
  };
  // append adds evs' lines to the log, keeping its last maxLogLines: it
  // then says that earlier lines are not shown.
  const append = (evs) => {
    const frag = document.createDocumentFragment();
    for (const ev of evs.slice(-maxLogLines)) {
      const li = line(ev);
      shown(li);
      frag.append(li);
    }
    log.append(frag);
    if (log.childElementCount > maxLogLines || evs.length > maxLogLines) earlier.hidden = false;
    while (log.childElementCount > maxLogLines) log.firstElementChild.remove();
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
    return li;
  };
  // The header and task runs are fetched again (both at once, by htmx)
  // after events, no more often than every 250 ms or twice the time the
  // last fetch took. Events that come while a fetch is under way fetch
  // once more after it. The task runs are those of the page's URL (its
  // filter, cursor and timeline page, which htmx pushes).
  let pending = null, again = false, wait = 250;
  const later = () => {
    if (pending) { again = true; return; }
    pending = setTimeout(async () => {
      again = false;
      const start = performance.now();
      await Promise.all([fetchPart(el, location.pathname), fetchPart(tasks, location.pathname + location.search)]);
      wait = Math.max(250, 2 * (performance.now() - start));
      pending = null;
      if (again) later();
    }, wait);
  };
  // Whatever put new task runs in place (a refresh, a timeline page, a
  // filter, Back), the mapped nodes take their sums.
  tasks.addEventListener("htmx:afterSwap", mappedSums);
  // The stream starts with the last tailLines of the log (tail=), or
  // after the last event seen when it opens again after an error; the
  // events it replays go to the log and the graph at once, when
  // "replayed" comes, then each new one as it comes.
  let source = null, ended = false, lastSeq = 0, replay = null;
  const open = (resume) => {
    if (source) source.close();
    const q = new URLSearchParams();
    if (select.value) q.set("task", select.value);
    const whole = new URL(earlier.querySelector("a").href);
    whole.search = q.toString();
    earlier.querySelector("a").href = whole.href;
    if (resume && lastSeq > 0) {
      q.set("after_seq", lastSeq);
    } else {
      log.textContent = "";
      earlier.hidden = true;
      queue = [];
      lastSeq = 0;
      q.set("tail", tailLines);
    }
    replay = [];
    source = new EventSource(log.dataset.events + "?" + q.toString(), { withCredentials: true });
    status.textContent = "following the run…";
    source.addEventListener("event", (e) => {
      const ev = JSON.parse(e.data);
      lastSeq = Math.max(lastSeq, ev.seq);
      if (replay) { replay.push(ev); return; }
      if (queue.push(ev) === 1) requestAnimationFrame(flush);
      graph(ev);
      later();
    });
    source.addEventListener("replayed", (e) => {
      const evs = replay;
      replay = null;
      if (JSON.parse(e.data).earlier) earlier.hidden = false;
      if (evs.length === 0) return;
      append(evs);
      log.scrollTop = log.scrollHeight;
      replayGraph(evs);
      later();
    });
    source.addEventListener("end", (e) => {
      const end = JSON.parse(e.data);
      status.textContent = "the run ended: " + end.state;
      ended = true;
      source.close();
      later();
    });
    // The header's fetch goes to the login page if the session ended.
    source.onerror = async () => {
      if (ended) return;
      source.close();
      status.textContent = "reconnecting…";
      await fetchPart(el, location.pathname);
      setTimeout(() => open(true), 1000);
    };
  };
  select.addEventListener("change", () => open(false));
  open(false);
}

document.addEventListener("DOMContentLoaded", () => {
  const run = document.getElementById("run-live");
  if (run) liveRun(run);
});
