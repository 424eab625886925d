package web

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wfsh/wfsh/runtime"
)

// TestBrowserBack: a filter of the runs page swaps the table in place
// (htmx) and pushes its URL; Back shows the table before it, and the
// filter's field with it; a page of runs by its link does the same.
func TestBrowserBack(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	f := newFixture(t)
	f.deploy(t)
	ended := f.runOf(t, `{"who":"a"}`)
	if err := f.admin.Do(context.Background(), "POST", "/runs/"+ended.ID+"/cancel", nil, nil); err != nil {
		t.Fatal(err)
	}
	waiting := f.runOf(t, `{"who":"b"}`)
	ctx := browse(t)
	logIn(t, ctx, f, f.admin.Token)
	both := `!!document.querySelector('a[href="/runs/` + ended.ID + `"]') && !!document.querySelector('a[href="/runs/` + waiting.ID + `"]')`
	waitJS(t, ctx, "both runs", both)
	run(t, ctx, "mark the page", chromedp.Evaluate[chromedp.Void](`window.stayed = 1`))
	chooseNow(t, ctx, "select[name=state]", "Cancelled", ".filters button")
	waitJS(t, ctx, "the Cancelled run alone, the filter in the URL, the same page", `new URLSearchParams(location.search).get("state") === "Cancelled" &&
		!!document.querySelector('a[href="/runs/`+ended.ID+`"]') && !document.querySelector('a[href="/runs/`+waiting.ID+`"]') && window.stayed === 1`)
	run(t, ctx, "back", chromedp.NavigateBack())
	waitJS(t, ctx, "the table before the filter, and its field", `location.search === "" && `+both+` &&
		document.querySelector("select[name=state]").value === "" && window.stayed === 1`)
	run(t, ctx, "forward", chromedp.NavigateForward())
	waitJS(t, ctx, "the filtered table again", `new URLSearchParams(location.search).get("state") === "Cancelled" &&
		!document.querySelector('a[href="/runs/`+waiting.ID+`"]') && document.querySelector("select[name=state]").value === "Cancelled"`)
}

// TestBrowserCSP: no page breaks the Content-Security-Policy, with
// htmx and its SSE extension loaded and at work (a filter, the live
// table, a timeline page, the run form's refusal, forms that post): the
// browser's console has no violation and no uncaught error. A
// violation made on purpose at the end shows that the check sees one.
func TestBrowserCSP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	f := newFixture(t)
	f.deploy(t)
	r := f.runOf(t, `{"who":"<img src=x onerror=alert(1)>"}`)
	g := &runtime.Graph{Flow: "F"}
	g.Add(&runtime.Node{Name: "extract", Task: "extract", Kind: runtime.TaskNode})
	w := f.claim(t, g)
	w.emit(runtime.Event{Kind: runtime.FlowStarted, Msg: "F", Node: runtime.NoNode, MapIndex: -1})
	w.emit(runtime.Event{Kind: runtime.TaskState, TaskRun: "extract", Node: 0, State: runtime.Running, MapIndex: -1})
	waitDAG(t, f, r.ID)
	ctx := browse(t)
	var mu sync.Mutex
	var bad []string
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	messages := chromedp.Console(cctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Source == "security" || strings.Contains(m.Text, "Content Security Policy") {
				mu.Lock()
				bad = append(bad, m.String())
				mu.Unlock()
			}
		}
	}()
	violations := func() []string {
		time.Sleep(300 * time.Millisecond) // the console's last events
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), bad...)
	}

	logIn(t, ctx, f, f.admin.Token)
	waitJS(t, ctx, "htmx and its SSE extension loaded, configured from the meta tag", `typeof htmx === "object" && htmx.config.allowEval === false &&
		htmx.config.includeIndicatorStyles === false && htmx.config.allowScriptTags === false && htmx.config.selfRequestsOnly === true &&
		htmx.config.historyCacheSize === 0 && typeof htmx.createEventSource === "function"`)
	run(t, ctx, "filter by state", chromedp.SetValue(chromedp.CSS(`select[name=state]`), "Running"),
		chromedp.Click(chromedp.CSS(`.filters button`)))
	waitJS(t, ctx, "the filter in the URL", `location.search.includes("state=Running")`)
	run(t, ctx, "mark the table", chromedp.Evaluate[chromedp.Void](`window.first = document.querySelector("table.runs tbody")`))
	waitJSWithin(t, ctx, 15*time.Second, "the live table (the server's events) swapped in, the run Running", `document.querySelector("table.runs tbody") !== window.first &&
		!!document.querySelector('a[href="/runs/`+r.ID+`"]') && document.querySelector("table.runs tbody").textContent.includes("Running")`)
	w.emit(runtime.Event{Kind: runtime.TaskLog, TaskRun: "extract", Node: 0, Level: runtime.Info, Msg: "<script>x</script>", MapIndex: -1})
	run(t, ctx, "the run", chromedp.Navigate(f.http.URL+"/runs/"+r.ID), chromedp.WaitVisible(chromedp.ID("n0")))
	waitJS(t, ctx, "the log", `[...document.querySelectorAll("#log li")].some(li => li.textContent.includes("<script>x</script>"))`)
	chooseNow(t, ctx, "#tasks-state", "Running", "#run-tasks form button")
	waitJS(t, ctx, "the task runs filtered in place", `location.search.includes("state=Running") && document.querySelectorAll("table.tasks tbody tr").length === 1 &&
		document.getElementById("log").children.length > 0`)
	run(t, ctx, "the run form", chromedp.Navigate(f.http.URL+"/deployments/F/nightly/run"), chromedp.WaitVisible(chromedp.ID("p-n")),
		chromedp.SetValue(chromedp.ID("p-n"), "lots"), chromedp.Click(chromedp.ID("start")), chromedp.WaitVisible(chromedp.ID("err-n")))
	for _, p := range []string{"/deployments", "/deployments/F/nightly", "/pools", "/secrets", "/tokens"} {
		run(t, ctx, p, chromedp.Navigate(f.http.URL+p), chromedp.WaitVisible(chromedp.CSS("main h1")))
	}
	run(t, ctx, "pause a pool", chromedp.Navigate(f.http.URL+"/pools"), chromedp.Click(chromedp.CSS(`table.pools button`)))
	waitJS(t, ctx, "the pool paused, in place", `document.querySelector("table.pools").textContent.includes("Paused")`)
	if v := violations(); len(v) > 0 {
		t.Errorf("the console has %d violations or errors:\n%s", len(v), strings.Join(v, "\n"))
	}
	// The check sees a violation: an inline handler, which the policy
	// refuses.
	run(t, ctx, "an inline handler", chromedp.Evaluate[chromedp.Void](`document.querySelector("main").insertAdjacentHTML("beforeend", '<img src="/nosuch.png" onerror="window.ran = 1">')`))
	waitJS(t, ctx, "the image failed", `!!document.querySelector("main img") && document.querySelector("main img").complete`)
	if v := violations(); len(v) == 0 || value(t, ctx, "ran", chromedp.Evaluate[bool](`window.ran === 1`)) {
		t.Errorf("an inline handler made no violation in the console (%q), or ran", v)
	}
}

// TestLiveRuns: /live/runs streams the runs table of its filter as the
// event "runs" (the table htmx swaps in), and "ended" once the session
// has ended; a part htmx asks for after that answers 401 with where to
// go (HX-Redirect, back to the page it was on).
func TestLiveRuns(t *testing.T) {
	f := newFixture(t)
	f.deploy(t)
	dev := f.token(t, "developer")
	r := f.runOf(t, `{"who":"a"}`)
	b := f.browser(t)
	f.login(t, b, dev.Token)
	stream := func(query string) (string, string) {
		resp, err := b.Get(f.http.URL + "/live/runs?" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
			t.Fatalf("/live/runs: %s %s", resp.Status, ct)
		}
		sc := bufio.NewScanner(resp.Body)
		name, data := "", ""
		for sc.Scan() && sc.Text() != "" {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				name = v
			} else if v, ok := strings.CutPrefix(line, "data: "); ok {
				data += v + "\n"
			}
		}
		return name, data
	}
	if name, data := stream("state=Scheduled"); name != "runs" || !strings.Contains(data, `href="/runs/`+r.ID+`"`) || !strings.Contains(data, "<table class=\"runs\">") {
		t.Errorf("the first event: %q\n%s", name, data)
	}
	if name, data := stream("state=Failed"); name != "runs" || strings.Contains(data, r.ID) || !strings.Contains(data, "No runs match the filter") {
		t.Errorf("the first event, state=Failed: %q\n%s", name, data)
	}
	var who struct{ ID string }
	dev.Do(context.Background(), "GET", "/whoami", nil, &who)
	if err := f.admin.Do(context.Background(), "DELETE", "/tokens/"+who.ID, nil, nil); err != nil {
		t.Fatal(err)
	}
	if name, _ := stream(""); name != "ended" {
		t.Errorf("after revocation the stream says %q, want ended", name)
	}
	req, _ := http.NewRequest("GET", f.http.URL+"/runs/"+r.ID, nil)
	req.Header.Set("HX-Request", "true")
	req.Header.Set("HX-Target", "run-tasks")
	req.Header.Set("HX-Current-URL", f.http.URL+"/runs/"+r.ID+"?tl=200")
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := "/login?" + url.Values{"m": {"expired"}, "next": {"/runs/" + r.ID + "?tl=200"}}.Encode()
	if to := resp.Header.Get("HX-Redirect"); resp.StatusCode != 401 || to != want {
		t.Errorf("htmx's request after revocation: %s, HX-Redirect %q", resp.Status, to)
	}
}

// TestLiveRunsStop: the UI's Stop ends a live runs table's stream (it
// would go on while the session lasts), as wfsh server does when it
// shuts down.
func TestLiveRunsStop(t *testing.T) {
	f := newFixture(t)
	dev := f.token(t, "developer")
	b := f.browser(t)
	f.login(t, b, dev.Token)
	resp, err := b.Get(f.http.URL + "/live/runs")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 1)
	if _, err := io.ReadFull(resp.Body, first); err != nil { // the table's first event
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(resp.Body)
		ended <- err
	}()
	select {
	case err := <-ended:
		t.Fatalf("the stream ended before Stop: %v", err)
	case <-time.After(2*runsEvery + 500*time.Millisecond):
	}
	f.ui.Stop()
	select {
	case err := <-ended:
		if err != nil {
			t.Errorf("the stream: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end with Stop")
	}
}
