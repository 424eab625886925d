package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
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
	req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: f.admin.Token})
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
	run(t, ctx, "log in", chromedp.Navigate(f.http.URL+"/login"), chromedp.SendKeys(chromedp.ID("token"), f.admin.Token),
		chromedp.Submit(chromedp.ID("token")), chromedp.WaitVisible(chromedp.CSS("table.runs")))
	start = time.Now()
	run(t, ctx, "open the run", chromedp.Navigate(f.http.URL+"/runs/"+r.ID), chromedp.WaitReady(chromedp.ID("L99")))
	opened := time.Since(start)
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
}
