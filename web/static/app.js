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

// maxLogLines bounds the lines the page keeps (the oldest go first);
// loading earlier lines raises the bound up to maxLoadedLines.
const maxLogLines = 5000, maxLoadedLines = 20000;
// tailLines is how many of a run's last lines the page starts with
// (tail=): laying out 5,000 at once kept W3's page busy for 0.4-0.6 s.
const tailLines = 1000;

// liveGraph keeps a run's graph coloured as its events come, and has it
// laid out by Graphviz first when the page carries its DOT (drawGraph).
// The nodes, in order: [run name, mapped, layer, state]; node i is the
// SVG group n<i> (its id set in the DOT, not Graphviz's own), or counts
// in the group L<layer> of a graph drawn by layers. What comes before
// the drawing is kept in nodes and painted once it is there.
function liveGraph(tasks) {
  const nodes = JSON.parse(document.getElementById("dag-nodes").textContent || "[]");
  const byName = new Map(nodes.map((n, i) => [n[0], i]));
  const total = new Map(), done = new Map(), counts = new Map();
  // paint shows node i's state and, for a mapped node, its count.
  const paint = (i) => {
    const g = document.getElementById("n" + i);
    if (!g) return;
    setState(g, nodes[i][3]);
    const title = g.querySelector("title");
    if (title) title.textContent = nodes[i][0] + ": " + nodes[i][3];
    const c = counts.get(i);
    const texts = g.querySelectorAll("text");
    const text = g.querySelector(".count") || texts[texts.length - 1];
    if (c && text) text.textContent = c[0] + "/" + c[1] + " done";
  };
  const state = (i, st) => { nodes[i][3] = st; paint(i); };
  const label = (i) => {
    counts.set(i, [(done.get(i) || new Set()).size, total.get(i) || 0]);
    paint(i);
  };
  // After each refresh of the task runs: the mapped nodes' counts and
  // states, from the server's sums (their children's states are not in
  // the event stream).
  const mappedSums = () => {
    const el = tasks.querySelector(".mapped-sums");
    for (const [name, st, d, n] of JSON.parse((el && el.dataset.sums) || "[]")) {
      const i = byName.get(name);
      if (i === undefined || nodes[i][2] >= 0) continue;
      counts.set(i, [d, n]);
      state(i, st);
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
    if (ev.kind === "map_expanded") {
      total.set(i, ev.children);
      label(i);
    } else if (ev.kind === "task_state" && ev.map_index < 0) {
      state(i, ev.state);
    } else if (ev.kind === "task_state") {
      if (finalStates.has(ev.state)) {
        if (!done.has(i)) done.set(i, new Set());
        done.get(i).add(ev.map_index);
        label(i);
      }
      if (!finalStates.has(nodes[i][3])) state(i, "Running");
    }
  };
  // The events the stream replays (the log's last lines, written before
  // it opened) change the graph once, at the end: the last state of each
  // task that has a node. The page came with the rest, and its mapped
  // nodes' counts come with the refresh of the task runs that follows.
  const replayGraph = (evs) => {
    const last = new Map();
    for (const ev of evs) {
      const i = byName.get(ev.task);
      if (i === undefined) continue;
      if (ev.kind === "map_expanded") total.set(i, ev.children);
      else if (ev.kind === "task_state" && ev.map_index < 0) last.set(i, ev.state);
    }
    for (const [i, st] of last) {
      if (nodes[i][2] >= 0) { // drawn by layers
        nodes[i][3] = st;
        layerDirty.add(nodes[i][2]);
        continue;
      }
      state(i, st);
    }
    redrawLayers();
  };
  const dot = document.getElementById("dag-dot");
  if (dot) {
    drawGraph(document.getElementById("graph"), JSON.parse(dot.textContent)).then((ok) => {
      if (ok) nodes.forEach((_, i) => paint(i));
    });
  }
  return { graph, replayGraph, mappedSums };
}

// drawGraph lays out DOT with Graphviz compiled to WebAssembly and puts
// the SVG in box. The module (about 800 KB) is imported here, by the run
// pages that have a graph to lay out, never by other pages. The SVG's
// text is Graphviz's, every label escaped by it (the DOT quotes them
// all: no HTML-like label). The times it took are left on box
// (data-load-ms: the module fetched and compiled; data-layout-ms: the
// layout; data-insert-ms: the SVG parsed and put in the page;
// data-shown-ms: until a frame later; data-shown-at: that moment, from
// the navigation's start).
async function drawGraph(box, dot) {
  const t0 = performance.now();
  try {
    const { Graphviz } = await import("/static/vendor/hpcc-js-wasm-graphviz/index.js");
    const gv = await Graphviz.load();
    const t1 = performance.now();
    const svg = gv.layout(dot, "svg", "dot");
    const t2 = performance.now();
    const doc = new DOMParser().parseFromString(svg, "image/svg+xml");
    if (doc.documentElement.nodeName !== "svg") throw new Error("Graphviz gave no SVG");
    box.replaceChildren(document.importNode(doc.documentElement, true));
    const t3 = performance.now();
    Object.assign(box.dataset, { drawn: "graphviz", loadMs: Math.round(t1 - t0), layoutMs: Math.round(t2 - t1), insertMs: Math.round(t3 - t2) });
    requestAnimationFrame(() => setTimeout(() => {
      const now = performance.now();
      Object.assign(box.dataset, { shownMs: Math.round(now - t3), shownAt: Math.round(now) });
    }));
    return true;
  } catch (e) {
    const p = document.createElement("p");
    p.className = "error";
    p.textContent = "Graphviz could not lay out the graph (" + e.message + "): the link above gives it in DOT.";
    box.replaceChildren(p);
    return false;
  }
}

function liveRun(el) {
  const log = document.getElementById("log");
  const status = document.getElementById("log-status");
  const earlier = document.getElementById("log-earlier");
  const more = document.getElementById("log-more");
  let cap = maxLogLines; // the lines kept, raised by loading earlier ones
  const select = document.getElementById("log-task");
  const tasks = document.getElementById("run-tasks");
  const search = document.getElementById("log-search");
  const shown = (li) => { li.hidden = search.value !== "" && !li.textContent.toLowerCase().includes(search.value.toLowerCase()); };
  search.addEventListener("input", () => { for (const li of log.children) shown(li); });
  const { graph, replayGraph, mappedSums } = liveGraph(tasks);
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
    if (log.childElementCount > cap || evs.length > cap) earlier.hidden = false;
    while (log.childElementCount > cap) log.firstElementChild.remove();
  };
  // "Load 1,000 earlier lines" asks the API for the lines before the
  // first shown (of the task the log shows) and puts them above it,
  // keeping in view the lines that were; the note goes once there are
  // none earlier, the button once the page holds maxLoadedLines.
  more.addEventListener("click", async () => {
    const first = log.firstElementChild;
    if (!first) return;
    const q = new URLSearchParams({ before_seq: first.dataset.seq, limit: tailLines });
    if (select.value) q.set("task", select.value);
    more.disabled = true;
    let resp;
    try {
      resp = await fetch(log.dataset.logs + "?" + q.toString(), { credentials: "same-origin", headers: { "Accept": "application/json" } });
    } catch (e) {
      more.disabled = false; // the server is away: the button stays
      return;
    }
    if (resp.status === 401) { toLogin(); return; }
    more.disabled = false;
    if (!resp.ok || log.firstElementChild !== first) return; // the log started again meanwhile (a task chosen)
    const page = await resp.json();
    const frag = document.createDocumentFragment();
    for (const ev of page.events) {
      const li = line(ev);
      shown(li);
      frag.append(li);
    }
    const height = log.scrollHeight;
    log.prepend(frag);
    log.scrollTop += log.scrollHeight - height;
    cap = Math.min(maxLoadedLines, Math.max(cap, log.childElementCount));
    earlier.hidden = !page.earlier;
    more.hidden = log.childElementCount >= maxLoadedLines;
  });
  const line = (ev) => {
    const li = document.createElement("li");
    li.dataset.seq = ev.seq;
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
      more.hidden = false;
      cap = maxLogLines;
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

// runsChart draws the runs page's chart of runs by state over time with
// uPlot (its script is on the runs page alone) from the API's history,
// again every 30 s while the tab is visible: a stacked bar per bucket,
// in the stylesheet's state colours of the theme (drawn again when the
// theme changes). Its legend names each state with its icon and its
// total, or, over a bar, that bar's counts and times. A drag across the
// bars lists the runs made in that time: since and until go in the URL,
// as the other filters do, and the page (table and chart) follows them.
function runsChart(el) {
  if (typeof uPlot === "undefined") return;
  const box = el.querySelector(".chart-plot");
  const states = JSON.parse(el.dataset.states);
  const height = 140;
  let hist = null;
  const utc = (sec) => new Date(sec * 1000).toISOString().replace(/:\d\d(\.\d+)?Z$/, "").replace("T", " ");
  const sec = (t) => Date.parse(t.replace(/(\.\d{3})\d+/, "$1")) / 1000; // RFC 3339 with nanoseconds
  const rfc3339 = (t) => new Date(Math.round(t) * 1000).toISOString().replace(/\.\d+Z$/, "Z");
  // A state's colour is the one the stylesheet gives its name (.st-*).
  const colour = (state) => {
    const probe = document.createElement("span");
    probe.className = "state st-" + state;
    el.append(probe);
    const c = getComputedStyle(probe).color;
    probe.remove();
    return c;
  };
  const select = (u) => {
    if (u.select.width < 3) return;
    const q = new URLSearchParams(location.search);
    q.delete("range");
    q.delete("after");
    q.set("since", rfc3339(u.posToVal(u.select.left, "x")));
    q.set("until", rfc3339(u.posToVal(u.select.left + u.select.width, "x")));
    location.assign(location.pathname + "?" + q.toString());
  };
  const draw = () => {
    if (el.plot) el.plot.destroy();
    el.plot = null;
    box.textContent = "";
    const from = sec(hist.from), to = sec(hist.to), step = hist.step;
    const bs = hist.buckets;
    const shown = states.filter(([st]) => bs.some((b) => b.counts[st]));
    if (shown.length === 0) {
      const p = document.createElement("p");
      p.className = "chart-empty";
      p.textContent = "No runs were made from " + utc(from) + " to " + utc(to) + " UTC.";
      box.append(p);
      return;
    }
    // Stacked: each state's bar reaches the sum of the states below it
    // and its own; the top one is drawn first, each lower one over it.
    let sum = bs.map(() => 0);
    const layers = shown.map(([st, icon]) => {
      sum = sum.map((v, i) => v + (bs[i].counts[st] || 0));
      const total = bs.reduce((n, b) => n + (b.counts[st] || 0), 0);
      return { st, icon, top: sum, total };
    }).reverse();
    const fg = getComputedStyle(el).color, line = getComputedStyle(document.body).getPropertyValue("--line").trim();
    const bars = uPlot.paths.bars({ size: [0.9, 64], align: 0 });
    const opts = {
      width: box.clientWidth, height,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      scales: { x: { time: true, range: () => [from, to] }, y: { range: (u, lo, hi) => [0, Math.max(1, hi)] } },
      axes: [
        { stroke: fg, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 } },
        { stroke: fg, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 }, size: 56 },
      ],
      cursor: { drag: { x: true, y: false, setScale: false }, points: { show: false } },
      legend: { live: true },
      series: [
        { label: "UTC", value: (u, v, si, i) => i == null ? utc(from) + " to " + utc(to) : utc(v - step / 2) + " to " + utc(v + step / 2) },
        ...layers.map((l) => ({
          label: l.icon + " " + l.st, fill: colour(l.st), stroke: colour(l.st), width: 0, paths: bars, points: { show: false },
          value: (u, v, si, i) => (i == null ? l.total : bs[i].counts[l.st] || 0).toLocaleString("en"),
        })),
      ],
      hooks: { setSelect: [select] },
    };
    const data = [bs.map((b) => sec(b.start) + step / 2), ...layers.map((l) => l.top)];
    el.plot = new uPlot(opts, data, box);
  };
  const fetchHistory = async () => {
    const url = new URL(el.dataset.history, location.href);
    if (+el.dataset.range > 0) url.searchParams.set("since", rfc3339(Date.now() / 1000 - el.dataset.range));
    let resp;
    try {
      resp = await fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } });
    } catch (e) {
      return true; // the server is away: try again later
    }
    if (resp.status === 401) { toLogin(); return false; }
    if (resp.ok) { hist = await resp.json(); draw(); }
    return true;
  };
  // A chart htmx took out of the page (the filters swap it with the
  // table) stops: its fetches, its listeners.
  const gone = () => !el.isConnected;
  const tick = async () => {
    if (gone()) return;
    if (document.hidden || await fetchHistory()) setTimeout(tick, 30000);
  };
  tick();
  const theme = matchMedia("(prefers-color-scheme: dark)");
  const redraw = () => { if (gone()) theme.removeEventListener("change", redraw); else if (hist) draw(); };
  theme.addEventListener("change", redraw);
  const resize = () => {
    if (gone()) window.removeEventListener("resize", resize);
    else if (el.plot) el.plot.setSize({ width: box.clientWidth, height });
  };
  window.addEventListener("resize", resize);
}

// startChart draws the runs chart found in root, once: at the page's
// load, and when htmx puts a new one in place.
function startChart(root) {
  const chart = root.id === "runs-chart" ? root : root.querySelector && root.querySelector("#runs-chart");
  if (!chart || chart.wfshDrawn) return;
  chart.wfshDrawn = true; // a property, not an attribute: htmx's history copies of the page have none
  runsChart(chart);
}
document.addEventListener("htmx:load", (e) => startChart(e.detail.elt));

document.addEventListener("DOMContentLoaded", () => {
  startChart(document);
  const run = document.getElementById("run-live");
  if (run) liveRun(run);
});
