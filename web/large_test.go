package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wfsh/wfsh/auth"
	"github.com/wfsh/wfsh/runtime"
)

// w3 is the graph of workload W3 (docs/performance.md): 100 layers of
// 100 tasks, each taking two results of the layer before: 10,000 nodes,
// 19,800 edges.
func w3() *runtime.Graph {
	g := &runtime.Graph{Flow: "W3"}
	for l := range 100 {
		for i := range 100 {
			n := &runtime.Node{Name: fmt.Sprintf("t%d_%d", l, i), Task: "step", Kind: runtime.TaskNode}
			if l > 0 {
				prev := runtime.NodeID((l-1)*100 + i)
				n.Inputs = []runtime.Input{{From: prev}, {From: runtime.NodeID((l-1)*100 + (i+1)%100)}}
			}
			g.Add(n)
		}
	}
	return g
}

// TestLargeRun: a run of 10,000 tasks (W3's graph, every task run
// recorded) opens: its page is served, its graph drawn by its 100
// layers, each counting its tasks, and usable in Chromium. It logs the
// times.
func TestLargeRun(t *testing.T) {
	if testing.Short() {
		t.Skip("records 10,000 task runs and starts a browser")
	}
	f := newFixture(t)
	f.deploy(t)
	r := f.runOf(t, `{"who":"x"}`)
	g := w3()
	w := f.claim(t, g)
	w.emit(runtime.Event{Kind: runtime.FlowStarted, Msg: "W3", Node: runtime.NoNode, MapIndex: -1})
	for i, n := range g.Nodes {
		w.emit(runtime.Event{Kind: runtime.TaskState, TaskRun: n.Name, Node: runtime.NodeID(i), State: runtime.Running, MapIndex: -1})
		w.emit(runtime.Event{Kind: runtime.TaskState, TaskRun: n.Name, Node: runtime.NodeID(i), State: runtime.Success, MapIndex: -1})
	}
	w.emit(runtime.Event{Kind: runtime.FlowFinished, State: runtime.Success, Node: runtime.NoNode, MapIndex: -1})
	if err := w.rec.Close(); err != nil {
		t.Fatal(err)
	}

	// The server's time for the page.
	req := httptest.NewRequest("GET", "/runs/"+r.ID, nil)
	req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: f.session(t, f.admin.Token)})
	start := time.Now()
	rec := httptest.NewRecorder()
	f.http.Config.Handler.ServeHTTP(rec, req)
	served := time.Since(start)
	if rec.Code != 200 {
		t.Fatalf("run page: %d", rec.Code)
	}
	t.Logf("the page of a 10,000-task run: served in %v, %d KB", served.Round(time.Millisecond), rec.Body.Len()>>10)

	ctx := browse(t)
	b := f.browser(t)
	f.login(t, b, f.admin.Token)
	logIn(t, ctx, f, f.admin.Token)
	start = time.Now()
	run(t, ctx, "open the run", chromedp.Navigate(f.http.URL+"/runs/"+r.ID), chromedp.WaitReady(chromedp.ID("L99")))
	opened := time.Since(start)
	if loaded := value(t, ctx, "resources", chromedp.Evaluate[bool](graphvizLoaded)); loaded {
		t.Errorf("a page drawn by layers loaded Graphviz's module")
	}
	waitJS(t, ctx, "100 layers, every one Success, all done", `document.querySelectorAll("g.gnode.st-Success").length === 100 &&
		document.querySelector("#L99 text.count").textContent === "100/100 done"`)
	type timing struct{ First, Last, Interactive, DOM, Load float64 }
	tm := value(t, ctx, "navigation timing", chromedp.Evaluate[timing](`(() => { const n = performance.getEntriesByType("navigation")[0];
		return {First: n.responseStart, Last: n.responseEnd, Interactive: n.domInteractive, DOM: n.domContentLoadedEventEnd, Load: n.loadEventEnd}; })()`))
	t.Logf("in Chromium (ms after the navigation began): first byte %.0f, last byte %.0f, DOM interactive %.0f, DOM ready %.0f, loaded %.0f; layer L99 there after %v",
		tm.First, tm.Last, tm.Interactive, tm.DOM, tm.Load, opened.Round(time.Millisecond))
	if opened > 20*time.Second {
		t.Errorf("a 10,000-task run took %v to open", opened)
	}

	// The timeline draws every task run, 200 a page: the first page,
	// then the last (t99_99, the last to start), reached by its link.
	waitJS(t, ctx, "the timeline's first page", `document.querySelectorAll(".timeline g.tl-bar").length === 200 &&
		document.querySelector(".tl-names text").textContent === "t0_0" && !!document.getElementById("tl-later") &&
		!document.getElementById("tl-earlier") && document.getElementById("timeline-h").parentNode.textContent.includes("1–200 of 10,000")`)
	// Idle soon: the time from DOM ready to the timeline's next page,
	// "Later task runs" clicked as soon as the page is there.
	var laters []time.Duration
	for range 3 {
		laters = append(laters, laterClick(t, ctx, f.http.URL, r.ID))
	}
	t.Logf("the 10,000-task run opened, then \"Later task runs\" clicked: its page shown %v after DOM ready (median %v)", laters, pct(laters, 50))
	// And the time until its script has handled the stream's replay:
	// the log says the run ended (polled every 50 ms; an upper bound).
	var settled []time.Duration
	for range 3 {
		run(t, ctx, "open the run", chromedp.Navigate(f.http.URL+"/runs/"+r.ID), chromedp.WaitReady(chromedp.ID("tl-later")))
		waitJSWithin(t, ctx, time.Minute, "the run's end in the log", `document.getElementById("log-status").textContent.includes("ended: Success")`)
		ms := value(t, ctx, "the time it took", chromedp.Evaluate[float64](`Date.now() - performance.timeOrigin - performance.getEntriesByType("navigation")[0].domContentLoadedEventEnd`))
		settled = append(settled, time.Duration(ms*float64(time.Millisecond)).Round(time.Millisecond))
	}
	t.Logf("the 10,000-task run opened: its log says the run ended %v after DOM ready (median %v)", settled, pct(settled, 50))
	// The log holds the last 1,000 of the run's 20,002 events (from
	// t95_0's end, seq 19,003, to the flow's), says that earlier lines
	// are not shown, and links to the whole log as text.
	waitJS(t, ctx, "the log's last 1,000 lines, earlier ones said hidden", `(() => {
		const li = document.querySelectorAll("#log li");
		return li.length === 1000 && li[0].textContent.includes("t95_0") && li[0].textContent.includes("task_state Success") &&
			li[999].textContent.includes("flow_finished Success") && !document.getElementById("log-earlier").hidden &&
			new URL(document.getElementById("log-whole").href).pathname === "/runs/`+r.ID+`/log.txt"; })()`)
	// "Load 1,000 earlier lines" puts the 1,000 events before them above
	// (seq 18,003 to 19,002), every line in order, the note still there.
	run(t, ctx, "load earlier lines", chromedp.Click(chromedp.ID("log-more")))
	waitJS(t, ctx, "2,000 lines, the 1,000 earlier ones first", `(() => {
		const li = [...document.querySelectorAll("#log li")];
		return li.length === 2000 && li[0].dataset.seq === "18003" && li[1000].dataset.seq === "19003" &&
			li[1000].textContent.includes("t95_0") && li.every((l, i) => i === 0 || +l.dataset.seq === +li[i-1].dataset.seq + 1) &&
			!document.getElementById("log-earlier").hidden; })()`)
	run(t, ctx, "fetch the whole log", chromedp.Evaluate[chromedp.Void](`fetch(document.getElementById("log-whole").href).then(r => r.text()).then(t => window.whole = t)`))
	waitJSWithin(t, ctx, time.Minute, "the whole log as text, first line to last", `typeof window.whole === "string" &&
		window.whole.startsWith("[") && window.whole.split("\n")[0].includes("Beginning Flow run for 'W3'") &&
		window.whole.includes("Task 't0_0': Starting task run...") && window.whole.split("\n").length === 20003`)
	run(t, ctx, "the timeline's last page", chromedp.Navigate(f.http.URL+"/runs/"+r.ID+"?tl=9800"), chromedp.WaitReady(chromedp.ID("L99")))
	waitJS(t, ctx, "the last page's bars, the last to start last", `document.querySelectorAll(".timeline g.tl-bar").length === 200 &&
		[...document.querySelectorAll(".tl-names text")].pop().textContent === "t99_99" && !document.getElementById("tl-later") &&
		document.getElementById("timeline-h").parentNode.textContent.includes("9,801–10,000 of 10,000")`)
	// Its links fetch the task runs' part alone: the page stays (a mark
	// left on it is still there), the URL follows, Back goes back.
	waitJSWithin(t, ctx, time.Minute, "the run's last 1,000 events replayed", `document.getElementById("log-status").textContent.includes("ended: Success")`)
	run(t, ctx, "mark the page", chromedp.Evaluate[chromedp.Void](`window.stayed = 1`))
	start = time.Now()
	run(t, ctx, "a page back", chromedp.Click(chromedp.ID("tl-earlier")))
	waitJS(t, ctx, "the page before, the same page", `new URLSearchParams(location.search).get("tl") === "9600" &&
		document.querySelector(".tl-names text").textContent === "t96_0" && window.stayed === 1`)
	t.Logf("a timeline page of the 10,000-task run, by its link (the fragment alone): %v", time.Since(start).Round(time.Millisecond))
	run(t, ctx, "back", chromedp.NavigateBack())
	waitJS(t, ctx, "the last page again", `new URLSearchParams(location.search).get("tl") === "9800" &&
		document.querySelector(".tl-names text").textContent === "t98_0" && window.stayed === 1`)
}

// laterClick opens run id's page and clicks "Later task runs" once its
// DOM is ready: it returns the time from DOMContentLoaded to the
// timeline's second page shown (the page's clock), which the page's
// script makes wait while it is busy.
func laterClick(t *testing.T, ctx context.Context, base, id string) time.Duration {
	t.Helper()
	run(t, ctx, "open the run", chromedp.Navigate(base+"/runs/"+id), chromedp.WaitReady(chromedp.ID("tl-later")))
	run(t, ctx, "watch the timeline", chromedp.Evaluate[chromedp.Void](`window.served = 0;
		new MutationObserver(() => {
			const n = document.querySelector(".tl-names text");
			if (!window.served && n && n.textContent === "t2_0") window.served = performance.now();
		}).observe(document.getElementById("run-tasks"), {childList: true, subtree: true});`))
	run(t, ctx, "click Later task runs", chromedp.Click(chromedp.ID("tl-later")))
	waitJSWithin(t, ctx, time.Minute, "the timeline's second page", `window.served > 0`)
	ms := value(t, ctx, "the time it took", chromedp.Evaluate[float64](`window.served - performance.getEntriesByType("navigation")[0].domContentLoadedEventEnd`))
	type fetched struct{ Start, End float64 }
	fe := value(t, ctx, "the fragment's fetch", chromedp.Evaluate[fetched](`(() => {
		const dom = performance.getEntriesByType("navigation")[0].domContentLoadedEventEnd;
		const f = performance.getEntriesByType("resource").filter(e => e.name.includes("tl=200")).pop();
		return f ? {Start: f.startTime - dom, End: f.responseEnd - dom} : {Start: -1, End: -1}; })()`))
	t.Logf("Later task runs: fetched from %.0f to %.0f ms after DOM ready, shown at %.0f ms", fe.Start, fe.End, ms)
	return time.Duration(ms * float64(time.Millisecond)).Round(time.Millisecond)
}

// TestW2Run: a run of W2's shape (a task mapped over 100,000 elements,
// docs/performance.md) recorded through the API while its page is open
// in Chromium. It measures the live-update lag: from the moment the
// worker side emits an event to the moment the page's DOM shows it
// (a MutationObserver's Date.now(), the same clock), for a log line
// every 500 children and for the task-run counts ("Success N", the
// fragment the page re-fetches); then the time to a usable page of the
// ended run (the Navigation Timing API). It logs the figures and fails
// only past generous bounds (the machine is shared).
func TestW2Run(t *testing.T) {
	if testing.Short() {
		t.Skip("records 100,000 task runs and starts a browser")
	}
	const n, every = 100000, 500
	f := newFixture(t)
	f.deploy(t)
	r := f.runOf(t, `{"who":"x"}`)
	g := &runtime.Graph{Flow: "W2"}
	nums := g.Add(&runtime.Node{Name: "numbers", Task: "numbers", Kind: runtime.TaskNode})
	inc := g.Add(&runtime.Node{Name: "inc", Task: "inc", Kind: runtime.TaskNode, Mapped: true, Inputs: []runtime.Input{{From: nums, Map: true}}})
	g.Add(&runtime.Node{Name: "total", Task: "total", Kind: runtime.TaskNode, Inputs: []runtime.Input{{From: inc}}})
	w := f.claim(t, g)
	w.emit(runtime.Event{Kind: runtime.FlowStarted, Msg: "W2", Node: runtime.NoNode, MapIndex: -1})
	w.emit(runtime.Event{Kind: runtime.TaskState, TaskRun: "numbers", Node: nums, State: runtime.Success, MapIndex: -1})
	w.emit(runtime.Event{Kind: runtime.MapExpanded, TaskRun: "inc", Node: inc, MapIndex: -1, Children: n})
	waitDAG(t, f, r.ID)

	ctx := browse(t)
	logIn(t, ctx, f, f.admin.Token)
	run(t, ctx, "open the run", chromedp.Navigate(f.http.URL+"/runs/"+r.ID), chromedp.WaitReady(chromedp.ID("n1")))
	// The page notes when each tick line and each count reach its DOM.
	run(t, ctx, "observe", chromedp.Evaluate[chromedp.Void](`window.seen = {lines: {}, counts: []};
		new MutationObserver(() => {
			const now = Date.now();
			for (const li of document.querySelectorAll("#log li")) {
				const m = li.textContent.match(/tick (\d+)/);
				if (m && !(m[1] in seen.lines)) seen.lines[m[1]] = now;
			}
			const c = (document.getElementById("task-counts") || {}).textContent || "";
			const s = c.match(/Success (\d+)/);
			if (s) seen.counts.push([now, +s[1]]);
		}).observe(document.querySelector("main"), {childList: true, subtree: true});`))

	emitted := make([]int64, n/every) // Unix ms of each tick's emission
	seqs := make([]uint64, n/every)   // and its sequence number
	start := time.Now()
	for i := range n {
		name := fmt.Sprintf("inc[%d]", i)
		w.emit(runtime.Event{Kind: runtime.TaskState, TaskRun: name, Node: inc, MapIndex: i, Attempt: 1, State: runtime.Running})
		if i%every == 0 {
			emitted[i/every] = time.Now().UnixMilli()
			w.emit(runtime.Event{Kind: runtime.TaskLog, TaskRun: name, Node: inc, MapIndex: i, Attempt: 1, Level: runtime.Info, Msg: fmt.Sprintf("tick %d", i/every)})
			seqs[i/every] = w.seq
		}
		w.emit(runtime.Event{Kind: runtime.TaskState, TaskRun: name, Node: inc, MapIndex: i, Attempt: 1, State: runtime.Success})
		if i%every == every-1 {
			time.Sleep(5 * time.Millisecond) // 100,000 children over about 1 s plus the emitting, as W2 runs
		}
	}
	w.emit(runtime.Event{Kind: runtime.TaskState, TaskRun: "inc", Node: inc, State: runtime.Success, MapIndex: -1})
	w.emit(runtime.Event{Kind: runtime.TaskState, TaskRun: "total", Node: 2, State: runtime.Success, MapIndex: -1})
	w.emit(runtime.Event{Kind: runtime.FlowFinished, State: runtime.Success, Node: runtime.NoNode, MapIndex: -1})
	if err := w.rec.Close(); err != nil {
		t.Fatal(err)
	}
	recorded := time.Since(start)
	waitJSWithin(t, ctx, time.Minute, "the run ends on the page", `document.getElementById("log-status").textContent.includes("ended: Success")`)
	waitJSWithin(t, ctx, time.Minute, "the header and the counts: 100,003 Success (numbers, inc, total and the children)",
		`document.getElementById("run-state").textContent.includes("Success") &&
		(document.getElementById("task-counts").textContent.match(/Success (\d+)/) || [])[1] === "100003"`)
	waitJS(t, ctx, "the mapped node counts its children and is Success", `[...document.querySelectorAll("#n1 text")].map(t => t.textContent).join(" ") === "inc [mapped] 100000/100000 done" &&
		document.getElementById("n1").classList.contains("st-Success")`)
	type seen struct {
		Lines  map[string]int64
		Counts [][2]int64
	}
	got := value(t, ctx, "what the page saw", chromedp.Evaluate[seen](`window.seen`))
	// A line's lag from its emission, and from the moment the server
	// took the write holding it (the page's part: the stream, the DOM).
	var lags, uiLags []time.Duration
	for k, at := range got.Lines {
		var i int
		fmt.Sscan(k, &i)
		lags = append(lags, time.Duration(at-emitted[i])*time.Millisecond)
		if st := w.storedAt(seqs[i]); st > 0 {
			uiLags = append(uiLags, time.Duration(at-st)*time.Millisecond)
		}
	}
	if len(lags) != n/every {
		t.Errorf("%d tick lines reached the log; want %d", len(lags), n/every)
	}
	// A count's lag: when the DOM first showed at least the children
	// done by a tick, after that tick was emitted.
	var countLags []time.Duration
	for i, at := range emitted {
		for _, c := range got.Counts {
			if c[1] >= int64(i*every+2) { // numbers, then children 0..i*every
				countLags = append(countLags, time.Duration(c[0]-at)*time.Millisecond)
				break
			}
		}
	}
	t.Logf("W2 recorded through the API in %v; log line lag from emission p50 %v p99 %v max %v (%d lines), from the server taking it p50 %v p99 %v max %v; counts lag from emission p50 %v p99 %v (%d ticks)",
		recorded.Round(time.Millisecond), pct(lags, 50), pct(lags, 99), pct(lags, 100), len(lags), pct(uiLags, 50), pct(uiLags, 99), pct(uiLags, 100),
		pct(countLags, 50), pct(countLags, 99), len(countLags))
	openTimed(t, ctx, f, r.ID, "n1", "W2 (100,003 task runs)")
}

// openTimed opens a run's page again, waits for element id and logs
// the Navigation Timing figures; it fails past 10 s to DOM ready.
func openTimed(t *testing.T, ctx context.Context, f *fixture, id, elem, what string) {
	t.Helper()
	req := httptest.NewRequest("GET", "/runs/"+id, nil)
	req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: f.session(t, f.admin.Token)})
	start := time.Now()
	rec := httptest.NewRecorder()
	f.http.Config.Handler.ServeHTTP(rec, req)
	served := time.Since(start)
	run(t, ctx, "open the run", chromedp.Navigate(f.http.URL+"/runs/"+id), chromedp.WaitReady(chromedp.ID(elem)))
	type timing struct{ First, Last, Interactive, DOM float64 }
	tm := value(t, ctx, "navigation timing", chromedp.Evaluate[timing](`(() => { const n = performance.getEntriesByType("navigation")[0];
		return {First: n.responseStart, Last: n.responseEnd, Interactive: n.domInteractive, DOM: n.domContentLoadedEventEnd}; })()`))
	t.Logf("%s: page served in %v (%d KB); in Chromium (ms from navigation start): first byte %.0f, last byte %.0f, DOM interactive %.0f, usable (DOMContentLoaded, the script attached) %.0f",
		what, served.Round(time.Millisecond), rec.Body.Len()>>10, tm.First, tm.Last, tm.Interactive, tm.DOM)
	if tm.DOM > 10000 {
		t.Errorf("%s: %.0f ms to a usable page", what, tm.DOM)
	}
}

// pct is the p-th percentile of ds (p 100: the largest).
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}
